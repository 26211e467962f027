import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "data_samples"

settings.register_profile("ci", max_examples=150, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=40, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch, tmp_path_factory):
    """Tests never inherit a user's progress or database settings, nor touch their home."""
    for name in ("AUDIT_ANALYTICS_NO_PROGRESS", "AUDIT_ANALYTICS_ACTOR", "PGPASSWORD",
                 "AUDIT_ANALYTICS_JOURNAL"):
        monkeypatch.delenv(name, raising=False)
    # ledger and access journal go to a fresh folder per test, never ~/.local/share
    monkeypatch.setenv("AUDIT_ANALYTICS_HOME", str(tmp_path_factory.mktemp("aa_home")))


@pytest.fixture(scope="session")
def samples() -> Path:
    return SAMPLES


@pytest.fixture(scope="session")
def expected() -> dict:
    return json.loads((SAMPLES / "expected.json").read_text())


def run_cli(*args, cwd=None, env=None, input=None) -> subprocess.CompletedProcess:
    """Run the real console script as a subprocess."""
    exe = Path(sys.executable).parent / "audit-analytics"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "audit_analytics"]
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([*cmd, *map(str, args)], capture_output=True, text=True,
                          cwd=cwd or ROOT, env=full_env, input=input, timeout=300)


@pytest.fixture
def cli():
    return run_cli


@pytest.fixture(scope="session")
def activity_month(tmp_path_factory) -> dict:
    """A generated month with injected anomalies and a clean one (generated once)."""
    import pyarrow.parquet as pq

    from audit_analytics.samples.activity import generate_month

    folder = tmp_path_factory.mktemp("activity")
    out = {}
    for name, clean in (("month", False), ("clean", True)):
        table, labels = generate_month(seed=7, clean=clean)
        path = folder / f"{name}.parquet"
        pq.write_table(table, path, row_group_size=32_768)
        out[name], out[f"{name}_labels"] = path, labels
    return out
