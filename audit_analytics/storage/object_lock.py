"""Whether an S3 bucket keeps audit archives WORM: versioning, Object Lock and retention.

The grading follows the deployment checklist's "WORM storage for regulatory compliance
archives" (S3 Object Lock): each finding is ``pass``, ``warn`` or ``fail`` with a one-line
detail.

- ``versioning``: Object Lock needs versioning on; off or suspended fails.
- ``object_lock``: Object Lock enabled on the bucket, else fail.
- ``default_retention``: a default retention rule, else fail (an object written without a
  retention of its own is then unprotected).
- ``retention_mode``: ``COMPLIANCE`` passes; ``GOVERNANCE`` warns: a principal granted
  ``s3:BypassGovernanceRetention`` can delete or shorten it.
- ``retention_period``: the default period against the policy's retention regime
  (HIPAA 6 years, PCI DSS 12 months, SOC 2 as configured). A period in years passes when
  it covers the required months; one in days when it covers :func:`required_days` (a year
  counted as 365 days, as the servers tested date an object under a default rule of N
  years: N x 365 days after it was written).
- ``object_retention``: every object under the prefix must be retained at least
  :func:`required_days` after its last modification (a minute's rounding allowed; an
  object under legal hold counts as held); any that ends sooner, or has no retention,
  fails.

Read with boto3 (pyarrow cannot make these calls): ``GetBucketVersioning`` (first: its
answer says why a request is refused, where a ``HEAD`` answer has no body),
``GetObjectLockConfiguration``, ``ListObjectsV2`` and ``HeadObject`` (which shows the lock
headers to a principal allowed ``s3:GetObjectRetention`` and ``s3:GetObjectLegalHold``).
"""

from __future__ import annotations

import datetime as dt
import html
from dataclasses import dataclass, field

from .._text import shown
from ..errors import SourceError
from ..status import STATUS_COLOURS, worst_status
from .location import Location, locate
from .s3 import boto3_client, s3_failure

__all__ = ["DEFAULT_MAX_OBJECTS", "LockFinding", "ObjectLockReport", "inspect_object_lock",
           "required_days"]

#: Objects whose retention is checked, at most (one HEAD request each).
DEFAULT_MAX_OBJECTS = 10_000
SHORT_LISTED = 100  # short objects named in the report, at most
ROUNDING = dt.timedelta(minutes=1)  # dates rounded to the second by servers and listings


def required_days(months: int) -> int:
    """The retention in days that ``months`` require: a year of 365 days, rounded up.

    >>> required_days(12), required_days(72), required_days(3)
    (365, 2190, 92)
    """
    return -(-max(months, 0) * 365 // 12)


@dataclass(frozen=True)
class LockFinding:
    """One graded item: ``kind``, ``status`` (pass/warn/fail) and a one-line ``detail``."""

    kind: str
    status: str
    detail: str

    def to_dict(self) -> dict:
        """A JSON-ready dict."""
        return {"kind": self.kind, "detail": self.detail, "status": self.status}


@dataclass
class ObjectLockReport:
    """What a bucket's configuration and objects say about WORM retention."""

    bucket: str
    prefix: str
    versioning: str
    object_lock_enabled: bool
    default_retention: dict | None
    required: dict
    checked: int = 0
    short: list[dict] = field(default_factory=list)
    short_count: int = 0
    truncated: bool = False
    findings: list[LockFinding] = field(default_factory=list)

    @property
    def status(self) -> str:
        """The worst status of the findings."""
        return worst_status(f.status for f in self.findings)

    @property
    def ok(self) -> bool:
        """True when no finding fails."""
        return self.status != "fail"

    def to_dict(self) -> dict:
        """The JSON document of ``object-lock --json``."""
        return {"ok": self.ok, "status": self.status, "bucket": self.bucket,
                "prefix": self.prefix, "versioning": self.versioning,
                "object_lock_enabled": self.object_lock_enabled,
                "default_retention": self.default_retention, "required": self.required,
                "objects": {"checked": self.checked, "short": self.short_count,
                            "short_objects": self.short, "truncated": self.truncated},
                "findings": [f.to_dict() for f in self.findings]}

    def summary(self) -> str:
        """One line per finding under a heading with the overall status."""
        where = f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"
        lines = [f"{shown(where)}: Object Lock for {self.required['regime']} "
                 f"({self.required['months']} months): {self.status.upper()}"]
        lines += [f"  {f.status:<4}  {f.kind}: {shown(f.detail, 2000)}" for f in self.findings]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<ObjectLockReport {self.bucket!r} {self.status} findings={len(self.findings)}>"

    def _repr_html_(self) -> str:
        colour = STATUS_COLOURS
        rows = "".join(
            f"<tr><td style='color:{colour[f.status]};font-weight:bold'>{f.status}</td>"
            f"<td>{html.escape(f.kind)}</td><td style='text-align:left'>"
            f"{html.escape(f.detail)}</td></tr>" for f in self.findings)
        return (f"<div><b>s3://{html.escape(self.bucket)}</b>: "
                f"<span style='color:{colour[self.status]}'>{self.status}</span>"
                f"<table>{rows}</table></div>")


def _code(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    return str(response.get("Error", {}).get("Code", "")) if isinstance(response, dict) else ""


def _call(location: Location, method, **kwargs):
    try:
        return method(**kwargs)
    except Exception as exc:
        if _code(exc) in ("404", "NoSuchBucket", "NotFound"):
            raise SourceError(f"bucket not found: s3://{location.bucket}",
                              source=location.url) from None
        raise s3_failure(exc, location.url, settings=location.settings) from None


def _lock_configuration(location: Location, client) -> dict | None:
    try:
        answer = client.get_object_lock_configuration(Bucket=location.bucket)
    except Exception as exc:
        if _code(exc) == "ObjectLockConfigurationNotFoundError":
            return None
        raise s3_failure(exc, location.url, settings=location.settings) from None
    return answer.get("ObjectLockConfiguration") or None


def _retention_rule(policy):
    from ..policy import Policy

    loaded = policy if isinstance(policy, Policy) else Policy.load(policy)
    return loaded.retention


def inspect_object_lock(target: str | Location, policy=None, *,
                        max_objects: int = DEFAULT_MAX_OBJECTS) -> ObjectLockReport:
    """Grade the bucket of ``target`` (``s3://BUCKET[/PREFIX]``) and the objects under PREFIX.

    Parameters
    ----------
    target
        The bucket, and optionally the prefix whose objects are checked (the whole bucket
        when there is none).
    policy
        A :class:`~audit_analytics.policy.Policy`, a policy file or built-in name
        (``hipaa``, ``pci_dss``, ``soc2``), or ``None`` for the default policy.
    max_objects
        Check the retention of at most this many objects (one ``HeadObject`` each).

    Raises
    ------
    SourceError
        Not an ``s3://`` location, a missing bucket, denied access, bad credentials, or
        boto3 not installed: one line, exit 2 at the CLI.
    PolicyError
        An invalid policy.
    """
    rule = _retention_rule(policy)
    location = locate(target)
    if not location.is_s3:
        raise SourceError(f"object-lock needs an s3:// location, not {location}",
                          source=location.url)
    client = boto3_client(location.settings)
    bucket, prefix = location.bucket, location.key
    status = _call(location, client.get_bucket_versioning, Bucket=bucket).get("Status")
    versioning = status or "Disabled"
    config = _lock_configuration(location, client)
    enabled = bool(config) and config.get("ObjectLockEnabled") == "Enabled"
    default = ((config or {}).get("Rule") or {}).get("DefaultRetention")
    months = rule.required_months
    required = {"regime": rule.regime, "months": months, "days": required_days(months),
                "source": rule.source}
    report = ObjectLockReport(
        bucket=bucket, prefix=prefix, versioning=versioning, object_lock_enabled=enabled,
        default_retention=({"mode": default.get("Mode"), "days": default.get("Days") or None,
                            "years": default.get("Years") or None} if default else None),
        required=required)
    _grade_bucket(report, months)
    _grade_objects(report, location, client, months, max_objects)
    return report


def _grade_bucket(report: ObjectLockReport, months: int) -> None:
    add = report.findings.append
    if report.versioning == "Enabled":
        add(LockFinding("versioning", "pass", "versioning is enabled"))
    else:
        add(LockFinding("versioning", "fail", f"versioning is {report.versioning.lower()}: "
                        "an overwritten or deleted object leaves no prior version"))
    if not report.object_lock_enabled:
        add(LockFinding("object_lock", "fail", "Object Lock is not enabled: any principal "
                        "with s3:DeleteObject can delete the archive"))
        return
    add(LockFinding("object_lock", "pass", "Object Lock is enabled"))
    rule = report.default_retention
    if rule is None:
        add(LockFinding("default_retention", "fail", "no default retention rule: objects "
                        "written without a retention of their own are not locked"))
        return
    add(LockFinding("default_retention", "pass", "a default retention rule applies to new "
                    "objects"))
    if rule["mode"] == "COMPLIANCE":
        add(LockFinding("retention_mode", "pass", "COMPLIANCE: no one, the root user "
                        "included, can delete a locked version or shorten its retention"))
    else:
        add(LockFinding("retention_mode", "warn", f"{rule['mode']}: a principal granted "
                        "s3:BypassGovernanceRetention can delete locked versions or shorten "
                        "their retention"))
    need = report.required
    if rule["years"]:
        have, enough = f"{rule['years']} years", rule["years"] * 12 >= months
    else:
        days = rule["days"] or 0
        have, enough = f"{days} days", days >= need["days"]
    wanted = (f"{months} months ({need['regime']}"
              + (f"; in days at least {need['days']}" if not rule["years"] else "") + ")")
    add(LockFinding("retention_period", "pass" if enough else "fail",
                    f"default retention {have} {'covers' if enough else 'is shorter than'} "
                    f"the required {wanted}"))


def _grade_objects(report: ObjectLockReport, location: Location, client, months: int,
                   max_objects: int) -> None:
    paginator = client.get_paginator("list_objects_v2")
    listing = {"Bucket": location.bucket, **({"Prefix": location.key.rstrip("/") + "/"}
                                             if location.key else {})}
    try:
        pages = iter(paginator.paginate(**listing))
        keys = []
        for page in pages:
            for item in page.get("Contents") or []:
                if len(keys) >= max_objects:
                    report.truncated = True
                    break
                keys.append((item["Key"], item["LastModified"]))
            if report.truncated:
                break
    except Exception as exc:
        raise s3_failure(exc, location.url, doing="list", settings=location.settings) from None
    for key, modified in keys:
        head = _call(location, client.head_object, Bucket=location.bucket, Key=key)
        report.checked += 1
        until = head.get("ObjectLockRetainUntilDate")
        held = head.get("ObjectLockLegalHoldStatus") == "ON"
        needed = modified.astimezone(dt.UTC) + dt.timedelta(days=report.required["days"])
        if held or (until is not None and until >= needed - ROUNDING):
            continue
        report.short_count += 1
        if len(report.short) < SHORT_LISTED:
            report.short.append({"key": key, "mode": head.get("ObjectLockMode"),
                                 "retain_until": until.isoformat() if until else None,
                                 "required_until": needed.isoformat(),
                                 "version_id": head.get("VersionId")})
    where = f"under {location.key}/" if location.key else "in the bucket"
    limit = f" (the first {max_objects}; more were not checked)" if report.truncated else ""
    if not report.checked:
        report.findings.append(LockFinding("object_retention", "pass",
                                           f"no objects {where}"))
    elif report.short_count:
        first = report.short[0]
        report.findings.append(LockFinding(
            "object_retention", "fail",
            f"{report.short_count} of {report.checked} objects {where}{limit} are retained "
            f"for less than {report.required['days']} days, e.g. {first['key']} until "
            f"{first['retain_until'] or 'never (no retention)'}"))
    else:
        report.findings.append(LockFinding(
            "object_retention", "pass" if not report.truncated else "warn",
            f"all {report.checked} objects {where}{limit} are retained for at least "
            f"{report.required['days']} days from their last change"))
