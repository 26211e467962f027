"""Timestamps at the limits of what can be represented: findings, never a crash."""

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import SAMPLES

PY_CLEAN = SAMPLES / "python_seed" / "clean.parquet"
_YEAR_1_US = -62135596800 * 10**6

CASES = {
    "last_second_of_9999": (253402300799, pa.timestamp("s", "UTC")),
    "past_9999": (253402300800 + 86400 * 400, pa.timestamp("s", "UTC")),
    "far_before_year_1": (-9223372036854, pa.timestamp("s", "UTC")),
    "first_instant_of_year_1": (_YEAR_1_US, pa.timestamp("us")),
}


def _log(tmp_path, case) -> object:
    value, kind = CASES[case]
    table = pq.read_table(PY_CLEAN).slice(0, 20)
    scale = 1 if kind.unit == "s" else 10**6
    stamps = [int(t.timestamp()) * scale for t in table.column("timestamp").to_pylist()]
    stamps[5] = value
    index = table.schema.get_field_index("timestamp")
    path = tmp_path / f"{case}.parquet"
    pq.write_table(table.set_column(index, "timestamp", pa.array(stamps, kind)), path)
    return path


@pytest.mark.parametrize("case", sorted(CASES))
def test_verify_flags_the_row_malformed(tmp_path, cli, case):
    done = cli("verify", _log(tmp_path, case), "--profile", "python-seed", "--json", "-")
    assert done.returncode == 1, done.stderr
    malformed = [f for f in json.loads(done.stdout)["findings"] if f["kind"] == "malformed"]
    assert len(malformed) == 1 and "out of range" in malformed[0]["reason"], malformed


@pytest.mark.parametrize("zone", ["America/Los_Angeles", "Pacific/Kiritimati"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_check_and_report_treat_it_as_missing(tmp_path, cli, case, zone):
    log = _log(tmp_path, case)
    policy = tmp_path / "zone.toml"
    policy.write_text(f'name = "zone"\ntimezone = "{zone}"\n')
    done = cli("check", log, "--policy", policy, "--json", "-")
    assert done.returncode in (0, 1), done.stderr
    checks = {c["name"]: c for c in json.loads(done.stdout)["checks"]}
    assert "timestamp:missing" in checks["required_fields"]["summary"]
    report = cli("report", log, "--policy", policy, "--period", "2024-01", "--out",
                 tmp_path / "reports")
    assert report.returncode in (0, 1), report.stderr
