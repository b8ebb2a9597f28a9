"""The online tracker: fixed-capacity track state, the jitted frame step, the official
preprocessing, the `Tracker` object behind `sambamotr_jax.api`, sequence runs to result files, and
drawing.

Imports the model, weights, `nn`, `runtime` and `formats`; never training, evaluation or data.
"""
