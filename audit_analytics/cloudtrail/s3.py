"""CloudTrail locations on S3: pyarrow's S3 file system, boto3 for a digest's metadata.

Everything about S3 settings, clients and failures is :mod:`audit_analytics.storage`'s;
this module only says what a trail's bucket needs: a file system rooted at the bucket, and
each digest object's user metadata (``x-amz-meta-signature``), which pyarrow cannot read.
"""

from __future__ import annotations

from ..errors import SourceError

__all__ = ["has_trail", "s3_filesystem"]


def s3_filesystem(uri: str, bucket: str):
    """``(file system, root, metadata reader)`` for ``s3://bucket``.

    Raises
    ------
    SourceError
        No such bucket, denied access, bad credentials, an unreachable endpoint.
    """
    from pyarrow import fs as pafs

    from ..storage import boto3_client, file_info, locate, s3_failure

    where = locate(f"s3://{bucket}")
    if file_info(where, doing="list").type == pafs.FileType.NotFound:
        raise SourceError(f"bucket not found: s3://{bucket}", source=uri)

    client = boto3_client(where.settings)  # one client for every digest (thread-safe)

    def metadata(key: str) -> dict[str, str]:
        try:
            return dict(client.head_object(Bucket=bucket, Key=key).get("Metadata") or {})
        except Exception as exc:
            code = str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))
            if code in ("404", "NoSuchKey", "NotFound"):
                return {}
            raise s3_failure(exc, f"s3://{bucket}/{key}") from None

    return where.fs, bucket, metadata


def has_trail(uri: str) -> bool:
    """Whether ``s3://bucket/prefix`` holds a trail's ``AWSLogs/ACCOUNT/CloudTrail*`` folders.

    Any failure answers ``False``: the source that reads the URL then reports it.
    """
    from pyarrow import fs as pafs

    from ..storage import locate

    try:
        root = locate(uri.rstrip("/")).child("AWSLogs")
        entries = root.fs.get_file_info(pafs.FileSelector(root.path, allow_not_found=True))
        for entry in entries[:20]:
            if entry.type != pafs.FileType.Directory:
                continue
            inside = root.fs.get_file_info(pafs.FileSelector(entry.path, allow_not_found=True))
            if any(i.base_name.startswith("CloudTrail") for i in inside):
                return True
    except Exception:  # noqa: BLE001 - any failure: not recognised as a trail
        return False
    return False
