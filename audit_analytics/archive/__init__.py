"""Archives that prove themselves: partitioned part files and a signed, chained manifest.

:mod:`.keys` (Ed25519 keys), :mod:`.store` (the folder, through a pyarrow FileSystem),
:mod:`.manifest` (the line format, signatures, the chain of entries), :mod:`.order` (chain
order), :mod:`.writer` (``archive``), :mod:`.spotcheck` (``spot-check`` and ``verify DIR``),
:mod:`.reconcile` (two sources compared event by event).
"""
