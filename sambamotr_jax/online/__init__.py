"""The host side of online tracking, without the model: the official preprocessing of a frame,
the frame loop that grows the track capacity exactly (a frame that overflows is re-run from its
saved input state), the stream loop that tracks several sequences in one batched step, and
result rows -> MOT lines.

Shared by the in-process tracker (`tracking.tracker`) and the artifact runner (`serve`), so the
runner tracks with the same code and imports no model. Imports jax, numpy and `formats` only:
never flax, the model's packages or `tracking`.
"""
