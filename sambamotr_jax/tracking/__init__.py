"""The online tracker: fixed-capacity track state, the jitted frame step, the official
preprocessing, the `Tracker` object behind `sambamotr_jax.api` and its supervision interface,
sequence and video runs to result files, and drawing (supervision's annotators).

Imports the model, weights, `nn`, `runtime` and `formats`; never training, evaluation or data.
"""
