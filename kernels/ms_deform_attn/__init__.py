"""Multi-scale deformable attention: pure-JAX reference, the Pallas (Triton) kernel, and one
dispatch point. Imports nothing of the project."""

from kernels.ms_deform_attn.dispatch import default_implementation, ms_deform_attn
from kernels.ms_deform_attn.pallas_triton import BlockSizes, ms_deform_attn_pallas
from kernels.ms_deform_attn.reference import (
    level_start_index,
    ms_deform_attn_xla,
    ms_deform_attn_xla_autodiff,
)

__all__ = [
    "BlockSizes",
    "default_implementation",
    "level_start_index",
    "ms_deform_attn",
    "ms_deform_attn_pallas",
    "ms_deform_attn_xla",
    "ms_deform_attn_xla_autodiff",
]
