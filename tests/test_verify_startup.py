"""What a verification loads: an intact log is verified without pandas, on both kernels."""

import json
import os
import subprocess
import sys

import pytest
from hostile import hostile_log

from audit_analytics.chain import kernel

# Verifies argv[1] through the console entry point and prints the exit code and whether
# pandas (about a second of start-up, never needed to verify) was imported.
VERIFY = r"""
import json, sys
from audit_analytics.cli import main
try:
    main(["--no-progress", "verify", sys.argv[1], "--json", sys.argv[2]])
except SystemExit as exc:
    code = exc.code
print(json.dumps({"exit": code, "pandas": "pandas" in sys.modules}))
"""


@pytest.mark.parametrize("mode", ["native", "python"])
def test_an_intact_log_is_verified_without_importing_pandas(tmp_path, mode):
    path = hostile_log(tmp_path / "in_order.parquet", lambda row: None)  # in chain order
    env = {k: v for k, v in os.environ.items() if k != kernel.KERNEL_ENV}
    if mode == "python":
        env[kernel.KERNEL_ENV] = "python"
    doc = tmp_path / "r.json"
    proc = subprocess.run([sys.executable, "-c", VERIFY, str(path), str(doc)], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got == {"exit": 0, "pandas": False}
    result = json.loads(doc.read_text())
    assert result["ok"] and result["rows"] == 2000
