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
    home = tmp_path_factory.mktemp("aa_home")
    monkeypatch.setenv("AUDIT_ANALYTICS_HOME", str(home))
    # no AWS settings of the user's: neither variables nor ~/.aws, nor instance metadata
    for name in [n for n in os.environ if n.startswith("AWS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(home / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(home / "aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


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
def s3_server():
    """moto in server mode on 127.0.0.1 for the whole session (see tests/s3server.py)."""
    from s3server import start_server

    server = start_server()
    yield server
    server.stop()


@pytest.fixture
def s3(s3_server, monkeypatch):
    """The S3 server, with this process's environment (and so the CLI's) pointed at it.

    ``s3.bucket(lock="COMPLIANCE", years=6)`` makes a fresh bucket, ``s3.user(policy)`` an
    IAM user's keys, ``s3.client()`` a boto3 client as the administrator.
    """
    for name, value in s3_server.env().items():
        monkeypatch.setenv(name, value)
    return s3_server


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
