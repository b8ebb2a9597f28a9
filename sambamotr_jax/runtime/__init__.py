"""Process and device set-up: the device mesh, joining a multi-process run (jax.distributed),
host memory tuning, and the one way every command-line entry point fails
(`PROG: error: MESSAGE`, exit status 2).

Imports only `formats`.
"""
