"""AWS CloudTrail: digest validation offline, and CloudTrail events as a source.

A CloudTrail location is the trail's bucket (``s3://bucket[/prefix]``) or a local folder
with the same layout (``AWSLogs/ACCOUNT/CloudTrail/...`` and
``AWSLogs/ACCOUNT/CloudTrail-Digest/...``): :mod:`.location` reads either through one small
interface; :mod:`.keys` reads the output of ``aws cloudtrail list-public-keys``;
:mod:`.digests` parses and verifies one digest file; :mod:`.validation` walks the digest
chains of a time range and hashes the log files they list (in parallel); :mod:`.results`
holds what it found; :mod:`.records` maps CloudTrail records onto the event schema and
:mod:`.source` exposes them to the engine.
"""
