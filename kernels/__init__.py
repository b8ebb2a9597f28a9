"""Custom kernels. Imports nothing of the project: the model depends on this package, never the
reverse."""

from kernels.ms_deform_attn import ms_deform_attn

__all__ = ["ms_deform_attn"]
