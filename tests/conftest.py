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
def _clean_env(monkeypatch):
    """Tests never inherit a user's progress or database settings."""
    for name in ("AUDIT_ANALYTICS_NO_PROGRESS", "AUDIT_ANALYTICS_ACTOR", "PGPASSWORD"):
        monkeypatch.delenv(name, raising=False)


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
