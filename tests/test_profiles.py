"""The vectorised text and digest equal the plain row-wise reference, for any input."""

import hashlib
from datetime import UTC, datetime

import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

import audit_analytics as aa
from audit_analytics.chain import kernel
from audit_analytics.chain.canonical import canonical_text, row_digest
from audit_analytics.chain.profiles import BUILTIN_PROFILES, SEED_FIELDS
from audit_analytics.samples import node_seed, python_seed

# Any Unicode scalar value (no lone surrogates: they cannot be stored as UTF-8).
TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)
NASTY = st.sampled_from(["\u2028", "\x7f", '"', "\\", "\n\t\r\b\f", "\x00\x1f", "😀𝄞",
                         "é中文", "</script>", "\u2029", "\ufeff", ""])
VALUE = st.one_of(st.none(), TEXT, NASTY, st.lists(NASTY, max_size=4).map("".join))
MOMENT = st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2100, 1, 1),
                      timezones=st.just(UTC))
WHOLE_SECOND = MOMENT.map(lambda d: d.replace(microsecond=0))
ROW = st.fixed_dictionaries({
    "id": TEXT, "timestamp": st.one_of(MOMENT, WHOLE_SECOND), "actor_id": VALUE,
    "action": VALUE, "resource_type": VALUE, "resource_id": VALUE, "result": VALUE,
    "prev_hash": TEXT,
})


def _columns(profile, rows, text_timestamps=False):
    cols = []
    for name in profile.ordered_fields:
        values = [r[name] for r in rows]
        if name == "timestamp" and not text_timestamps:
            cols.append(pa.array(values, pa.timestamp("us", tz="UTC")))
        else:
            cols.append(pa.array(values, pa.string()))
    return cols


@pytest.mark.parametrize("name", sorted(BUILTIN_PROFILES))
@given(rows=st.lists(ROW, min_size=1, max_size=30))
def test_vectorised_equals_reference(name, rows):
    profile = BUILTIN_PROFILES[name]
    cols = _columns(profile, rows)
    texts = kernel.canonical_texts(profile, cols)
    assert texts == [canonical_text(profile, r) for r in rows]
    digests = kernel.digests(profile, cols)
    assert [d.tobytes().hex() for d in digests] == [row_digest(profile, r) for r in rows]


@given(rows=st.lists(ROW, min_size=1, max_size=20))
def test_reference_matches_the_producers(rows):
    for r in rows:
        assert row_digest(BUILTIN_PROFILES["python-seed"], r) == python_seed.compute_hash(r)
        js = {k: v for k, v in r.items()}
        assert row_digest(BUILTIN_PROFILES["node-seed"], js) == node_seed.compute_hash(js)


@given(rows=st.lists(ROW, min_size=1, max_size=20))
def test_text_timestamps_hashed_as_stored(rows):
    profile = BUILTIN_PROFILES["python-seed"]
    as_text = [{**r, "timestamp": r["timestamp"].isoformat()} for r in rows]
    texts = kernel.canonical_texts(profile, _columns(profile, as_text, text_timestamps=True))
    assert texts == [canonical_text(profile, r) for r in rows]


@given(rows=st.lists(ROW, min_size=1, max_size=20))
def test_omit_nulls_mode(rows):
    profile = BUILTIN_PROFILES["node-seed"]
    texts = kernel.canonical_texts(profile, _columns(profile, rows), omit_nulls=True)
    assert texts == [canonical_text(profile, r, omit_nulls=True) for r in rows]


def test_microsecond_zero_has_no_fraction():
    row = {f: "x" for f in SEED_FIELDS}
    row["timestamp"] = datetime(2026, 10, 1, 12, 0, 0, tzinfo=UTC)
    py, node = BUILTIN_PROFILES["python-seed"], BUILTIN_PROFILES["node-seed"]
    assert b'"timestamp": "2026-10-01T12:00:00+00:00"' in kernel.canonical_texts(
        py, _columns(py, [row]))[0]
    assert b'"timestamp":"2026-10-01T12:00:00.000Z"' in kernel.canonical_texts(
        node, _columns(node, [row]))[0]


def test_block_boundaries_digest():
    profile = BUILTIN_PROFILES["node-seed"]
    rows = []
    for pad in range(0, 200):
        row = {f: "" for f in SEED_FIELDS}
        row["timestamp"] = datetime(2026, 1, 1, tzinfo=UTC)
        row["actor_id"] = "a" * pad
        rows.append(row)
    digests = kernel.digests(profile, _columns(profile, rows))
    for r, d in zip(rows, digests):
        assert d.tobytes() == hashlib.sha256(canonical_text(profile, r)).digest()


def test_toml_profile_errors(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\nfields = ["id"]\nfrobnicate = 1\n')
    with pytest.raises(aa.ProfileError, match="unknown key"):
        aa.load_profile(bad)
    bad.write_text('fields = ["id", "timestamp"]\n')
    with pytest.raises(aa.ProfileError, match="prev_hash"):
        aa.load_profile(bad)
    bad.write_text("not toml [[[")
    with pytest.raises(aa.ProfileError, match="not valid TOML"):
        aa.load_profile(bad)
    with pytest.raises(aa.ProfileError, match="unknown profile"):
        aa.load_profile("ruby-seed")
    good = tmp_path / "good.toml"
    good.write_text('name = "svc"\nfields = ["id", "action", "prev_hash"]\n'
                    'key_order = "insertion"\nensure_ascii = false\n')
    prof = aa.load_profile(good)
    assert prof.ordered_fields == ("id", "action", "prev_hash") and prof.escape == "raw"
