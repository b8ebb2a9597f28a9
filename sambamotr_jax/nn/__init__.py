"""Building blocks shared by the detector and the query updaters, written once: torch-initialized
linear layers and MLPs (`linear`), torch's LayerNorm (`normalization`) and MultiheadAttention
(`multihead_attention`), layers with lean backward passes, box and position-encoding helpers.

Imports nothing of the project but `kernels/`."""
