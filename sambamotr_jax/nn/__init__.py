"""Neural-network building blocks shared by the detector and the query updaters.

Linear layers with the official initializations, MLP, torch-style multi-head attention, layer
norms, memory-lean activations, small-map convolutions, box operations, position encodings.
Imports nothing of the project but `kernels`.
"""
