"""CloudTrail locations on S3: pyarrow's S3 file system, boto3 for object metadata."""

from __future__ import annotations

from ..errors import SourceError
from .location import Location

__all__ = ["open_s3_location"]


def open_s3_location(uri: str, bucket: str, prefix: str) -> Location:
    """A :class:`Location` over ``s3://bucket/prefix``."""
    raise SourceError(f"s3:// CloudTrail locations are not available in this build: {uri}",
                      source=uri)
