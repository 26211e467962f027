"""CloudTrail records mapped onto the event schema, the raw record kept.

``eventID`` -> id, ``eventTime`` -> timestamp, ``userIdentity.arn`` (else ``principalId``,
``invokedBy`` or ``type``, for the root user and AWS services) -> actor_id,
``userIdentity.type`` -> actor_type, ``eventName`` -> action, ``eventSource`` ->
resource_type, the first ``resources[].ARN`` (else the request's main parameter) ->
resource_id, ``errorCode`` -> result (``AccessDenied*`` and ``UnauthorizedOperation`` ->
denied, other errors -> failure, none -> success; a ``ConsoleLogin`` whose response says
``Failure`` is a failure too), ``sourceIPAddress`` -> ip_address (when it is an address:
services call from names such as ``ec2.amazonaws.com``, kept as ``source_host``),
``userAgent`` -> user_agent. The record itself is ``record`` (JSON text, keys sorted) and
``hash`` its SHA-256 (``prev_hash`` is empty: CloudTrail chains its files, not records).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import json

import pyarrow as pa

__all__ = ["SCHEMA", "map_record", "records_table"]

#: Request parameters naming what a call acts on, most specific first.
_MAIN_PARAMETERS = ("roleArn", "policyArn", "functionName", "roleName", "userName", "groupName",
                    "policyName", "instanceId", "keyId", "secretId", "trailName", "name",
                    "logGroupName", "tableName", "clusterIdentifier", "dBInstanceIdentifier",
                    "stackName", "queueUrl", "topicArn", "accessKeyId", "bucketName")
_DENIED = ("AccessDenied", "UnauthorizedOperation", "Client.UnauthorizedOperation")

SCHEMA = pa.schema([
    ("id", pa.string()), ("timestamp", pa.timestamp("us", tz="UTC")),
    ("actor_id", pa.string()), ("actor_type", pa.string()), ("action", pa.string()),
    ("resource_type", pa.string()), ("resource_id", pa.string()), ("result", pa.string()),
    ("ip_address", pa.string()), ("user_agent", pa.string()), ("session_id", pa.string()),
    ("source_host", pa.string()), ("aws_region", pa.string()), ("account_id", pa.string()),
    ("error_code", pa.string()), ("error_message", pa.string()),
    ("event_type", pa.string()), ("read_only", pa.bool_()), ("log_file", pa.string()),
    ("record", pa.string()), ("prev_hash", pa.string()), ("hash", pa.string()),
])


def _text(value) -> str | None:
    return value if isinstance(value, str) and value else None


def _result(record: dict) -> str:
    code = _text(record.get("errorCode"))
    if code is None:
        response = record.get("responseElements")
        if record.get("eventName") == "ConsoleLogin" and isinstance(response, dict) \
                and response.get("ConsoleLogin") == "Failure":
            return "failure"
        return "success"
    if code.startswith("AccessDenied") or code in _DENIED:
        return "denied"
    return "failure"


def _resource(record: dict) -> str | None:
    resources = record.get("resources")
    if isinstance(resources, list):
        for item in resources:
            if isinstance(item, dict) and _text(item.get("ARN")):
                return item["ARN"]
    params = record.get("requestParameters")
    if not isinstance(params, dict):
        return None
    bucket, key = _text(params.get("bucketName")), _text(params.get("key"))
    if bucket and key:
        return f"arn:aws:s3:::{bucket}/{key}"
    for name in _MAIN_PARAMETERS:
        value = params.get(name)
        if isinstance(value, str) and value:
            return value
    return None


def _time(value) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def map_record(record: dict, log_file: str) -> dict:
    """One record as a row of :data:`SCHEMA`."""
    identity = record.get("userIdentity") if isinstance(record.get("userIdentity"), dict) \
        else {}
    actor = (_text(identity.get("arn")) or _text(identity.get("principalId"))
             or _text(identity.get("invokedBy")) or _text(identity.get("type")))
    source_ip = _text(record.get("sourceIPAddress"))
    try:
        ip = str(ipaddress.ip_address(source_ip)) if source_ip else None
    except ValueError:
        ip = None
    session = identity.get("accessKeyId")
    text = json.dumps(record, ensure_ascii=False, sort_keys=True)
    return {
        "id": _text(record.get("eventID")), "timestamp": _time(record.get("eventTime")),
        "actor_id": actor, "actor_type": _text(identity.get("type")),
        "action": _text(record.get("eventName")),
        "resource_type": _text(record.get("eventSource")), "resource_id": _resource(record),
        "result": _result(record), "ip_address": ip, "user_agent": _text(record.get("userAgent")),
        "session_id": _text(session), "source_host": None if ip else source_ip,
        "aws_region": _text(record.get("awsRegion")),
        "account_id": _text(record.get("recipientAccountId")),
        "error_code": _text(record.get("errorCode")),
        "error_message": _text(record.get("errorMessage")),
        "event_type": _text(record.get("eventType")),
        "read_only": record.get("readOnly") if isinstance(record.get("readOnly"), bool) else None,
        "log_file": log_file,
        "record": text,
        # no row chain: the record's own SHA-256 identifies it for ``load`` (with its id)
        "prev_hash": None, "hash": hashlib.sha256(text.encode("utf-8")).hexdigest(),
    }


def records_table(rows: list[dict]) -> pa.Table:
    """Mapped rows as an Arrow table of :data:`SCHEMA`."""
    return pa.Table.from_pylist(rows, schema=SCHEMA)
