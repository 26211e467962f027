"""The compliance policy: time zone, business hours, retention regime, check thresholds.

A policy is a small TOML file; every key is optional and falls back to the defaults
below (``Policy.load(None)``)::

    name = "hospital"
    timezone = "America/New_York"          # IANA name known to zoneinfo and DuckDB
    checks = ["required_fields", "failed_access_burst"]   # default: every check

    [business_hours]
    start = "07:00"
    end = "19:00"
    weekdays = ["mon", "tue", "wed", "thu", "fri"]

    [retention]
    regime = "pci_dss"                     # hipaa | pci_dss | soc2 | custom
    logging_started = 2024-03-01           # optional: tells a young log from a purged one

    [thresholds.failed_access_burst]
    rule = "fixed"                         # the seed's rule: more than 5 failures ...
    max_failures = 5
    window_minutes = 1440                  # ... within any 24 hours

Built-in policies live in ``audit_analytics/policies/`` (``default``, ``hipaa``,
``pci_dss``, ``soc2``) and are loaded by name: ``Policy.load("hipaa")``.

Retention presets carry their source: retention periods are policy, never constants
buried in checks.
"""

from __future__ import annotations

import copy
import datetime as dt
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._files import read_toml
from .errors import PolicyError, UsageError
from .periods import resolve_tz, zone_known

__all__ = ["BUILTIN_POLICIES", "DEFAULTS", "RETENTION_PRESETS", "Policy", "RetentionRule"]

POLICY_DIR = Path(__file__).resolve().parent / "policies"
BUILTIN_POLICIES = ("default", "hipaa", "pci_dss", "soc2", "cloudtrail")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class RetentionRule:
    """How long audit events must be kept, and where the number comes from.

    Attributes
    ----------
    regime
        ``hipaa``, ``pci_dss``, ``soc2`` or ``custom``.
    required_months
        Months of history that must be retained.
    immediately_available_months
        Months that must be online for analysis (``None`` when the regime sets none).
    source
        The rule the numbers come from, quoted in every result.
    """

    regime: str
    required_months: int
    immediately_available_months: int | None
    source: str


RETENTION_PRESETS: dict[str, RetentionRule] = {
    "hipaa": RetentionRule(
        "hipaa", 72, None,
        "HIPAA 45 CFR 164.316(b)(2)(i): retain the required documentation for 6 years from "
        "the date of its creation or the date when it last was in effect, whichever is later "
        "(applied here to audit records kept under 164.312(b) audit controls)",
    ),
    "pci_dss": RetentionRule(
        "pci_dss", 12, 3,
        "PCI DSS v4.0 Requirement 10.5.1: retain audit log history for at least 12 months, "
        "with at least the most recent three months immediately available for analysis",
    ),
    "soc2": RetentionRule(
        "soc2", 12, None,
        "SOC 2 (AICPA Trust Services Criteria) sets no fixed retention period: it is "
        "policy-defined. Default here: 1 year, enough to cover a Type II audit period",
    ),
}

# Every key a policy may hold, with its default. ``None`` marks optional keys without a
# default; their types are in _TYPES.
DEFAULTS: dict[str, Any] = {
    "name": "default",
    "description": "",
    "timezone": "UTC",
    "checks": [],  # empty: every declared check
    "business_hours": {
        "start": "07:00",
        "end": "19:00",
        "weekdays": ["mon", "tue", "wed", "thu", "fri"],
    },
    "retention": {
        "regime": "soc2",
        "required_months": None,
        "immediately_available_months": None,
        "source": None,
        "logging_started": None,
    },
    "review": {  # periodic log review (read by audit_analytics.trail.ledger)
        "cadence": None,  # daily | weekly | monthly; default from the retention regime
        "grace_days": None,
    },
    "thresholds": {
        "required_fields": {
            "fields": ["id", "timestamp", "actor_id", "actor_type", "action",
                       "resource_type", "resource_id", "result", "ip_address"],
            "actor_types": ["user", "service", "system", "admin"],  # the seed's DDL set
            "results": ["success", "failure", "denied"],
        },
        "failed_access_burst": {
            "rule": "baseline",  # baseline | fixed (the seed's rule: max_failures only)
            "max_failures": 5,
            "window_minutes": 15,
            "window_hours": None,  # the seed's spelling of the window; overrides minutes
            "k": 6.0,
            "p90_factor": 1.5,
            "min_history_days": 10,
            "persistent_min_days": 5,
            "persistent_min_per_day": 3,
            "results": ["failure", "denied"],
        },
        "off_hours_access": {
            "usual_min_days": 3,
            "usual_margin_hours": 1,
            "min_events": 1,
            "min_history_days": 10,
        },
        "volume_spike": {
            "k": 6.0,
            "relative_floor": 0.15,
            "absolute_floor": 10,
            "p90_factor": 1.5,
            "min_history_days": 10,
        },
        "broad_access": {
            "k": 6.0,
            "relative_floor": 0.15,
            "absolute_floor": 10,
            "p90_factor": 1.5,
            "min_history_days": 10,
            "resource_types": ["patient_record"],
        },
        "bulk_export": {
            "k": 6.0,
            "relative_floor": 0.15,
            "p90_factor": 1.5,
            "min_exports": 10,
            "min_history_days": 10,
            "actions": ["export"],
        },
        "retention_coverage": {
            "max_gap_minutes": 60,
        },
        "log_access": {
            "resource_types": ["audit_log"],
            "actions": ["view_audit_log", "export_audit_log", "read_audit_log"],
            "object_actions": [],  # on the source's own log files (CloudTrail: GetObject)
            "allowed_actors": [],
            "allowed_actor_types": ["system"],
        },
        "chain_integrity": {
            "profile": "auto",
        },
    },
}

# Expected type of every leaf: str, int, float, bool, "list[str]", "time", "date".
_TYPES: dict[str, Any] = {
    "name": str, "description": str, "timezone": str, "checks": "list[str]",
    "business_hours.start": "time", "business_hours.end": "time",
    "business_hours.weekdays": "list[str]",
    "retention.regime": str, "retention.required_months": int,
    "retention.immediately_available_months": int, "retention.source": str,
    "retention.logging_started": "date",
    "review.cadence": str, "review.grace_days": int,
    "thresholds.failed_access_burst.window_hours": float,
}
#: Rules of ``failed_access_burst``: against the actor's own baseline, or a fixed count.
BURST_RULES = ("baseline", "fixed")


def _leaf_type(path: str, default: Any) -> Any:
    if path in _TYPES:
        return _TYPES[path]
    if isinstance(default, bool):
        return bool
    if isinstance(default, float):
        return float
    if isinstance(default, int):
        return int
    if isinstance(default, list):
        return "list[str]"
    return str


def _type_name(t: Any) -> str:
    names = {str: "a string", int: "an integer", float: "a number", bool: "true or false",
             "list[str]": "a list of strings", "time": 'a time "HH:MM"',
             "date": "a date (YYYY-MM-DD)"}
    return names[t]


def _coerce(path: str, value: Any, expected: Any) -> Any:
    bad = PolicyError(
        f"policy key {path!r} must be {_type_name(expected)}, got {type(value).__name__} "
        f"{value!r}", key=path)
    if expected is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise bad
        return float(value)
    if expected is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad
        return value
    if expected is bool or expected is str:
        if not isinstance(value, expected):
            raise bad
        return value
    if expected == "list[str]":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise bad
        return list(value)
    if expected == "time":
        if isinstance(value, dt.time):
            return value.strftime("%H:%M")
        if not isinstance(value, str):
            raise bad
        try:
            parsed = dt.time.fromisoformat(value)
        except ValueError:
            raise bad from None
        return parsed.strftime("%H:%M:%S") if parsed.second else parsed.strftime("%H:%M")
    if expected == "date":
        if isinstance(value, dt.datetime):
            return value.date()
        if isinstance(value, dt.date):
            return value
        if isinstance(value, str):
            try:
                return dt.date.fromisoformat(value)
            except ValueError:
                raise bad from None
        raise bad
    raise AssertionError(expected)  # pragma: no cover


#: The longest span a setting may name, by the unit its key ends with (about 100 years):
#: anything longer is a typo, and would overflow the date arithmetic it feeds.
_LONGEST_SPAN = {"_months": 1_200, "_days": 36_525, "_hours": 876_600,
                 "_minutes": 52_596_000}
#: The largest count or factor a setting may hold (it is bound as a 64-bit SQL value).
_LARGEST = 2**53


def _check_number(key: str, value: Any) -> None:
    """Refuse a number that no real setting holds: NaN, infinite, huge, or a span too long."""
    if value is None or isinstance(value, bool) or not isinstance(value, int | float):
        return
    if value != value or abs(value) > _LARGEST:  # NaN, inf, or past exact 64-bit floats
        raise PolicyError(f"policy key {key!r} must be a finite number up to {_LARGEST}, got "
                          f"{value}", key=key)
    unit = next((u for u in _LONGEST_SPAN if key.endswith(u)), None)
    if unit and value > _LONGEST_SPAN[unit]:
        raise PolicyError(f"policy key {key!r} names {value} {unit[1:]}, more than the "
                          f"{_LONGEST_SPAN[unit]} (about 100 years) such a setting can be",
                          key=key)


def _merge(base: dict, override: dict, prefix: str = "") -> dict:
    """Overlay ``override`` on ``base``; unknown keys and wrong types raise PolicyError."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        path = f"{prefix}{key}"
        if key not in base:
            known = ", ".join(sorted(base))
            raise PolicyError(f"unknown policy key {path!r} (known here: {known})", key=path)
        default = base[key]
        if isinstance(default, dict):
            if not isinstance(value, dict):
                raise PolicyError(f"policy key {path!r} must be a table, got "
                                  f"{type(value).__name__}", key=path)
            out[key] = _merge(default, value, path + ".")
        else:
            out[key] = _coerce(path, value, _leaf_type(path, default))
    return out


@dataclass
class Policy:
    """A validated compliance policy.

    Use :meth:`load` (a TOML file, a built-in name or ``None`` for the defaults) or
    :meth:`from_dict`. ``settings`` holds every key, defaults filled in.

    Attributes
    ----------
    settings
        The full, validated policy as nested dicts.
    path
        Where it was loaded from (``None`` for defaults or a dict).
    """

    settings: dict = field(default_factory=lambda: copy.deepcopy(DEFAULTS))
    path: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.settings, dict) or any(k not in self.settings for k in DEFAULTS):
            raise UsageError("settings must be a dict of every policy key (see from_dict)",
                             argument="settings")

    # --- construction ---------------------------------------------------------------
    @classmethod
    def load(cls, source: str | Path | None = None) -> Policy:
        """Load a policy from a TOML file or a built-in name; ``None`` gives the defaults.

        Raises
        ------
        PolicyError
            The file cannot be read or parsed, or holds an invalid setting.
        """
        if source is None:
            return cls.from_dict({})
        if not isinstance(source, str | os.PathLike):
            raise UsageError(f"a policy is a TOML path or a name, not {type(source).__name__}",
                             argument="source")
        text_source = os.fspath(source)
        path = Path(text_source)
        if not path.exists() and text_source in BUILTIN_POLICIES:
            path = POLICY_DIR / f"{text_source}.toml"
        data = read_toml(path, what="policy file", error=PolicyError,
                         missing=f"policy file {text_source!r} not found (built-in policies: "
                                 f"{', '.join(BUILTIN_POLICIES)})")
        try:
            return cls.from_dict(data, path=str(path))
        except PolicyError as exc:
            raise PolicyError(f"policy {text_source!r}: {exc.message}", path=text_source,
                              **{k: v for k, v in exc.fields.items() if k != "path"}) from None

    @classmethod
    def from_dict(cls, data: dict, path: str | None = None) -> Policy:
        """Validate ``data`` (the parsed TOML) over the defaults.

        A policy without a ``name`` is named after its file (``p.toml``), or ``custom``
        when it has none: only the defaults themselves are called ``default``.
        """
        if not isinstance(data, dict):
            raise UsageError(f"data must be a dict, not {type(data).__name__}", argument="data")
        settings = _merge(DEFAULTS, data)
        if "name" not in data and (data or path):
            settings["name"] = Path(path).name if path else "custom"
        policy = cls(settings=settings, path=path)
        policy._validate()
        return policy

    def _validate(self) -> None:
        s = self.settings
        if not zone_known(s["timezone"]):
            raise PolicyError(f"unknown time zone {s['timezone']!r} in policy key 'timezone' "
                              "(use an IANA name such as 'Europe/Paris')",
                              key="timezone")
        bh = s["business_hours"]
        if dt.time.fromisoformat(bh["end"]) <= dt.time.fromisoformat(bh["start"]):
            raise PolicyError(f"business_hours.end ({bh['end']}) must be after "
                              f"business_hours.start ({bh['start']})", key="business_hours.end")
        for day in bh["weekdays"]:
            if day.lower()[:3] not in WEEKDAYS:
                raise PolicyError(f"policy key 'business_hours.weekdays' holds {day!r}; "
                                  f"expected names among {', '.join(WEEKDAYS)}",
                                  key="business_hours.weekdays")
        ret = s["retention"]
        if ret["regime"] not in (*RETENTION_PRESETS, "custom"):
            raise PolicyError(f"unknown retention regime {ret['regime']!r} (expected "
                              f"{', '.join([*RETENTION_PRESETS, 'custom'])})",
                              key="retention.regime")
        if ret["regime"] == "custom" and ret["required_months"] is None:
            raise PolicyError("retention regime 'custom' needs retention.required_months",
                              key="retention.required_months")
        started = ret["logging_started"]
        today = dt.datetime.now(resolve_tz(s["timezone"])).date()
        if started is not None and started > today:
            raise PolicyError(f"retention.logging_started ({started}) is in the future "
                              f"(today is {today} in {s['timezone']})",
                              key="retention.logging_started")
        for key in ("required_months", "immediately_available_months"):
            if ret[key] is not None and ret[key] < 0:
                raise PolicyError(f"retention.{key} must not be negative",
                                  key=f"retention.{key}")
        from .checks.declarations import CHECKS  # declared apart from how they run

        for name in s["checks"]:
            if name not in CHECKS:
                raise PolicyError(f"unknown check {name!r} in policy key 'checks' (known: "
                                  f"{', '.join(CHECKS)})", key="checks", check=name)
        numbers = [(f"thresholds.{c}.{k}", v) for c, table in s["thresholds"].items()
                   for k, v in table.items() if isinstance(v, int | float)
                   and not isinstance(v, bool)]
        for key, value in numbers:
            if value < 0:
                raise PolicyError(f"policy key {key!r} must not be negative, got {value}",
                                  key=key)
        spans = [*numbers, *((f"retention.{k}", v) for k, v in ret.items() if k.endswith(
            "_months")), ("review.grace_days", s["review"]["grace_days"])]
        for key, value in spans:
            _check_number(key, value)
        burst = s["thresholds"]["failed_access_burst"]
        if burst["rule"] not in BURST_RULES:
            raise PolicyError(f"policy key 'thresholds.failed_access_burst.rule' must be one of "
                              f"{', '.join(BURST_RULES)}, got {burst['rule']!r}",
                              key="thresholds.failed_access_burst.rule")
        for key, most in (("window_minutes", 31 * 24 * 60), ("window_hours", 31 * 24)):
            if burst[key] is not None and not 0 < burst[key] <= most:
                raise PolicyError(f"policy key 'thresholds.failed_access_burst.{key}' must be "
                                  f"positive and at most a month, got {burst[key]}",
                                  key=f"thresholds.failed_access_burst.{key}")

    # --- accessors ------------------------------------------------------------------
    @property
    def name(self) -> str:
        """The policy's name."""
        return self.settings["name"]

    @property
    def timezone(self) -> str:
        """IANA time zone in which days and business hours are reckoned."""
        return self.settings["timezone"]

    @property
    def checks(self) -> list[str]:
        """Checks to run (every declared check when the policy names none)."""
        from .checks.declarations import CHECKS

        return list(self.settings["checks"]) or [n for n, s in CHECKS.items() if s.default]

    @property
    def business_hours(self) -> dict:
        """``start``, ``end`` (``HH:MM``) and ``isodows`` (ISO weekday numbers, Mon=1)."""
        bh = self.settings["business_hours"]
        return {"start": bh["start"], "end": bh["end"],
                "isodows": sorted({WEEKDAYS.index(d.lower()[:3]) + 1 for d in bh["weekdays"]})}

    @property
    def retention(self) -> RetentionRule:
        """The retention rule: a preset, with any explicit override applied."""
        ret = self.settings["retention"]
        base = RETENTION_PRESETS.get(ret["regime"]) or RetentionRule(
            "custom", 0, None, "policy-defined retention")
        return RetentionRule(
            regime=ret["regime"],
            required_months=ret["required_months"] if ret["required_months"] is not None
            else base.required_months,
            immediately_available_months=ret["immediately_available_months"]
            if ret["immediately_available_months"] is not None
            else base.immediately_available_months,
            source=ret["source"] or base.source,
        )

    @property
    def logging_started(self) -> dt.date | None:
        """When logging began, if the policy says so."""
        return self.settings["retention"]["logging_started"]

    def thresholds(self, check: str) -> dict:
        """The threshold table of one check."""
        return dict(self.settings["thresholds"].get(check, {}))

    @property
    def burst_window_minutes(self) -> int:
        """The sliding window of ``failed_access_burst``, in whole minutes (at least 1)."""
        t = self.settings["thresholds"]["failed_access_burst"]
        if t["window_hours"] is not None:
            return max(1, round(t["window_hours"] * 60))
        return t["window_minutes"]

    def to_dict(self) -> dict:
        """The validated policy as plain JSON-able data (retention rule resolved)."""
        out = copy.deepcopy(self.settings)
        rule = self.retention
        out["retention"].update(required_months=rule.required_months,
                                immediately_available_months=rule.immediately_available_months,
                                source=rule.source)
        if out["retention"]["logging_started"] is not None:
            out["retention"]["logging_started"] = out["retention"]["logging_started"].isoformat()
        out["checks"] = self.checks
        return out

    def __repr__(self) -> str:
        return (f"<Policy {self.name!r} tz={self.timezone} retention="
                f"{self.retention.regime}:{self.retention.required_months}mo>")
