"""Query updaters: Samba (SambaMOTR) with its selective scan, and MeMOTR's long-term memory.

Imports `sambamotr_jax.nn` only."""
