"""Weights: reading official PyTorch checkpoints safely, the torch-name rule, conversion
into our parameter tree, and converted checkpoints (Orbax + model.json).

Imports the model (for its parameter tree), `formats` and `runtime`; the model never imports this.
"""
