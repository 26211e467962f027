"""CloudTrail locations on S3: pyarrow's S3 file system, boto3 for object metadata."""

from __future__ import annotations

from ..errors import SourceError

__all__ = ["s3_filesystem"]


def s3_filesystem(uri: str, bucket: str):
    """The file system, its root and a reader of object metadata for ``s3://bucket``."""
    raise SourceError(f"s3:// CloudTrail locations are not available in this build: {uri}",
                      source=uri)
