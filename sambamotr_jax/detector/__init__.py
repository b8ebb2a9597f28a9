"""The detector: ResNet backbone, Deformable-DETR / DAB-Deformable-DETR encoder and decoder, the
multi-scale deformable attention, the class and box heads.

Imports `sambamotr_jax.nn` and `kernels/` only."""
