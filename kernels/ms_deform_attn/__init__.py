"""Multi-scale deformable attention: reference, kernel and dispatch."""

from kernels.ms_deform_attn.api import ms_deform_attn
from kernels.ms_deform_attn.reference import level_start_index, ms_deform_attn_xla

__all__ = ["level_start_index", "ms_deform_attn", "ms_deform_attn_xla"]
