"""Which profile a source's producer used: the candidates ``auto`` tries, on a sample.

``auto`` tries the built-in profiles and the profile files in
``$AUDIT_ANALYTICS_HOME/profiles``; each reads the source as it maps it (its ``columns``),
and the one that reproduces the most stored hashes of a sample of rows is chosen.
"""

from __future__ import annotations

import logging

import pyarrow as pa

from .._engine import Engine
from .._files import default_home
from ..errors import AuditAnalyticsError, ProfileError, SchemaError, first_line
from ..sources import Source
from ..sources.mapped import MappedSource
from .expressions import profile_parts, scan_query
from .integrity import finer_timestamps, row_integrity
from .profiles import BUILTIN_PROFILES, HashProfile, load_profile

__all__ = ["candidate_profiles", "detect_profile", "profile_source", "sample_matches"]

log = logging.getLogger("audit_analytics")


def candidate_profiles() -> list[HashProfile]:
    """What ``auto`` tries: the built-in profiles, then ``$AUDIT_ANALYTICS_HOME/profiles/*.toml``.

    A profile file there that cannot be loaded (invalid, or its HMAC key unset) is skipped
    with a warning.
    """
    found = list(BUILTIN_PROFILES.values())
    folder = default_home() / "profiles"
    for path in sorted(folder.glob("*.toml")) if folder.is_dir() else ():
        try:
            found.append(load_profile(path))
        except AuditAnalyticsError as exc:
            log.warning("skipping profile %s: %s", path, first_line(exc))
    return found


def profile_source(source: Source, profile: HashProfile) -> Source:
    """``source`` as ``profile`` reads it: its columns renamed when the profile maps them."""
    mapping = profile.column_map
    inner = source.inner if isinstance(source, MappedSource) else source
    if isinstance(source, MappedSource) and source.mapping == mapping:
        return source
    return MappedSource(inner, mapping) if mapping else inner


def detect_profile(engine: Engine, source: Source, sample: int = 512,
                   candidates: list[HashProfile] | None = None) -> tuple[HashProfile, str]:
    """Pick the profile that reproduces the stored hashes of a sample of rows.

    ``candidates`` defaults to :func:`candidate_profiles`. Returns the profile and a
    sentence saying how well each candidate matched.
    """
    scores, schema_errors = [], []
    samples: dict[object, pa.Table] = {}  # profiles hashing the same fields share a sample
    for profile in candidates if candidates is not None else candidate_profiles():
        try:
            part = profile_parts(profile_source(source, profile), profile)[0]
            query = scan_query(engine, part.sql, part.params, profile, part.where)
        except (SchemaError, ProfileError) as exc:  # a profile the source cannot match
            schema_errors.append(exc)
            scores.append((0, 0, profile))
            continue
        plain = profile.text == "json" and not profile.columns and not profile.order_by
        # a sample of timestamps finer than a profile's text flags them for that text only
        key = (frozenset(profile.fields), "__finer" in query and profile.timestamp
               ) if plain else query
        if key not in samples:
            samples[key] = engine.arrow(f"SELECT * FROM ({query}) USING SAMPLE "
                                        f"{int(sample)} ROWS", part.params)
        matched, considered = sample_matches(profile, samples[key])
        scores.append((matched, considered, profile))
    if len(schema_errors) == len(scores):
        raise schema_errors[0]  # no profile can read this source: say what is missing
    scores.sort(key=lambda s: s[0], reverse=True)
    best_matched, considered, best = scores[0]
    summary = ", ".join(f"{p.name} {m}/{c}" for m, c, p in scores)
    if best_matched == 0:
        raise ProfileError(
            f"no known hash profile reproduces the stored hashes of {source.label} "
            f"(sampled rows matched: {summary}); pass --profile FILE.toml",
            source=source.label,
        )
    return best, f"detected {best.name} (sampled rows matched: {summary})"


def sample_matches(profile: HashProfile, batch: pa.Table) -> tuple[int, int]:
    """How many rows of a scan-query sample match, of those with a usable stored hash."""
    if batch.num_rows == 0:
        return 0, 0
    fields = ([] if profile.text == "sql"
              else [batch.column("f:" + name) for name in profile.ordered_fields])
    text = batch.column("__text") if profile.text == "sql" else None
    ok, _, hf, _ = row_integrity(profile, fields, batch.column("__hash"), text)
    finer = finer_timestamps(profile, batch)  # not the values that were hashed
    matched = int(ok.sum()) - sum(bool(ok[i]) for i in finer)
    return matched, int((hf == 0).sum())
