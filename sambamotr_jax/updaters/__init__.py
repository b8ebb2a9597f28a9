"""Query updaters: how track queries carry over to the next frame.

Samba (synchronized selective state spaces, SambaMOTR) with its selective scan, and MeMOTR's
long-term memory. Imports `nn` only.
"""
