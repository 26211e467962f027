"""Small user files (anchors, policies, profiles): what is not a small regular file is refused.

Every case runs the real CLI as a subprocess with a short timeout, so a read that blocks
(a FIFO without a writer) fails the test instead of hanging the suite.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, SAMPLES

from audit_analytics._files import ANCHOR_LIMIT, TOML_LIMIT, read_small_file
from audit_analytics.errors import AnchorError, PolicyError

CLEAN = SAMPLES / "python_seed" / "clean.parquet"
DEEP = 50_000


def _run(*args, timeout=60) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).parent / "audit-analytics"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "audit_analytics"]
    return subprocess.run([*cmd, *map(str, args)], capture_output=True, text=True, cwd=ROOT,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def _one_line_error(proc, *fragments) -> None:
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("audit-analytics: error: "), proc.stderr
    assert "Traceback" not in proc.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


# (the option, the commands that take it, the suffix its file needs)
OPTIONS = [
    ("--anchor", ("verify", "check", "report"), ".jsonl"),
    ("--policy", ("report", "check"), ".toml"),
    ("--profile", ("report", "verify", "check"), ".toml"),
]


def _command(name: str, option: str, value, tmp_path) -> list:
    args = [name, CLEAN, option, value]
    if name == "report":
        args += ["--period", "2024-01", "--out", tmp_path / "reports"]
    return args


def _special(kind: str, suffix: str, tmp_path: Path) -> Path:
    """A path named like the option expects that leads to a device, FIFO, folder or huge file."""
    path = tmp_path / f"{kind}{suffix}"
    if kind == "zero":
        path.symlink_to("/dev/zero")  # followed: the target is what counts
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "folder":
        path.mkdir()
    elif kind == "oversized":
        limit = ANCHOR_LIMIT if suffix == ".jsonl" else TOML_LIMIT
        with open(path, "wb") as handle:  # sparse: no real disk used
            handle.truncate(limit + 1)
    return path


@pytest.mark.parametrize("option, commands, suffix", OPTIONS, ids=[o[0] for o in OPTIONS])
@pytest.mark.parametrize("kind, message", [
    ("zero", "a character device, not a regular file"),
    ("fifo", "a FIFO, not a regular file"),
    ("folder", "directory"),
    ("oversized", "such a file can be"),
])
def test_cli_refuses_what_is_not_a_small_regular_file(tmp_path, option, commands, suffix,
                                                       kind, message):
    path = _special(kind, suffix, tmp_path)
    # every command taking the option is tried with a FIFO (the one that could hang)
    for name in commands if kind == "fifo" else commands[:1]:
        proc = _run(*_command(name, option, path, tmp_path))
        if kind == "folder" and option == "--anchor":
            # click refuses a directory for --anchor before the reader runs
            assert proc.returncode == 2 and "directory" in proc.stderr
            assert "Traceback" not in proc.stderr
            continue
        _one_line_error(proc, message, str(path))
        assert not (tmp_path / "reports").exists()


def test_literal_dev_zero_as_policy_and_anchor_fails_fast():
    _one_line_error(_run("check", CLEAN, "--policy", "/dev/zero"), "/dev/zero")
    _one_line_error(_run("verify", CLEAN, "--anchor", "/dev/zero"), "/dev/zero")


def _deep_toml(kind: str) -> str:
    if kind == "array":
        return "name = " + "[" * DEEP + "]" * DEEP + "\n"
    return "name = " + "{ a = " * DEEP + "1" + " }" * DEEP + "\n"


@pytest.mark.parametrize("structure", ["array", "inline-table"])
@pytest.mark.parametrize("option", ["--policy", "--profile"])
def test_deeply_nested_toml_is_bad_input(tmp_path, option, structure):
    path = tmp_path / "deep.toml"
    path.write_text(_deep_toml(structure))
    proc = _run("check", CLEAN, option, path)
    _one_line_error(proc, "nests arrays or tables too deeply")


@pytest.mark.parametrize("line", [
    "[" * DEEP + "]" * DEEP,
    '{"id": ' * DEEP + "1" + "}" * DEEP,
])
def test_deeply_nested_anchor_line_is_bad_input(tmp_path, line):
    path = tmp_path / "deep.jsonl"
    good = json.loads((SAMPLES / "python_seed" / "anchors.jsonl").read_text().splitlines()[0])
    path.write_text(json.dumps(good) + "\n" + line + "\n")
    proc = _run("verify", CLEAN, "--anchor", path)
    _one_line_error(proc, "line 2", "too deeply")


def test_reader_accepts_a_regular_file_through_a_symlink(tmp_path):
    target = tmp_path / "policy.toml"
    target.write_text('name = "ward"\n')
    link = tmp_path / "link.toml"
    link.symlink_to(target)
    assert read_small_file(link, what="policy file", limit=TOML_LIMIT,
                           error=PolicyError) == 'name = "ward"\n'
    proc = _run("check", CLEAN, "--policy", link, "--only", "required_fields")
    assert proc.returncode == 0, proc.stderr


def test_reader_refuses_a_file_that_grows_past_the_limit_and_non_utf8(tmp_path):
    path = tmp_path / "anchors.jsonl"
    path.write_bytes(b"x" * 11)
    with pytest.raises(AnchorError, match="such a file can be"):
        read_small_file(path, what="anchor file", limit=10, error=AnchorError)
    path.write_bytes(b'{"id": "\xff"}\n')
    with pytest.raises(AnchorError, match="not UTF-8"):
        read_small_file(path, what="anchor file", limit=10_000, error=AnchorError)


def test_missing_files_still_say_not_found(tmp_path):
    for option, suffix in (("--anchor", ".jsonl"), ("--policy", ".toml"),
                           ("--profile", ".toml")):
        _one_line_error(_run("check", CLEAN, option, tmp_path / f"absent{suffix}"),
                        "not found")
