"""The Deformable-DETR / DAB-Deformable-DETR detector.

ResNet backbone, multi-scale deformable attention, encoder, decoder, transformer and the
detector with its heads and queries. Imports `nn` and `kernels` only.
"""
