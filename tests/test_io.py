"""One rule for every path the toolkit writes: devices and FIFOs in place, links through.

The journal and the ledger are the exception: security records, they must be regular
files (a link, device, FIFO or socket in their place is refused).
"""

import json
import os
import socket
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import ROOT, SAMPLES

from audit_analytics import _io
from audit_analytics.cli.app import emit_json
from audit_analytics.errors import LedgerError, OutputError
from audit_analytics.trail.ledger import Ledger

CLEAN = SAMPLES / "python_seed" / "clean.parquet"
ROOT_ONLY = pytest.mark.skipif(os.geteuid() != 0, reason="making device nodes needs root")


def _device(path: Path, kind: int, major: int, minor: int) -> Path:
    try:
        os.mknod(path, kind | 0o666, os.makedev(major, minor))
    except OSError as exc:  # a container without CAP_MKNOD
        pytest.skip(f"cannot make a device node: {exc}")
    return path


def _reader(path: Path, into: list) -> threading.Thread:
    def read() -> None:
        with open(path, "rb") as handle:
            into.append(handle.read())

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    return thread


@ROOT_ONLY
def test_json_to_a_character_device_keeps_the_device(tmp_path, cli):
    null = _device(tmp_path / "null", stat.S_IFCHR, 1, 3)  # the null device, made here
    done = cli("verify", CLEAN, "--json", null)
    assert done.returncode == 0, done.stderr
    info = os.lstat(null)
    assert stat.S_ISCHR(info.st_mode) and info.st_rdev == os.makedev(1, 3)
    assert [p.name for p in tmp_path.iterdir()] == ["null"]  # no temporary file left


@ROOT_ONLY
def test_a_block_device_is_refused_untouched(tmp_path, cli):
    disk = _device(tmp_path / "disk", stat.S_IFBLK, 7, 250)
    done = cli("verify", CLEAN, "--json", disk)
    assert done.returncode == 2
    assert done.stderr.strip() == (f"audit-analytics: error: cannot write {disk}: not a "
                                   "regular file, device or FIFO")
    assert stat.S_ISBLK(os.lstat(disk).st_mode)


def test_json_to_a_fifo_with_a_reader_is_written_into_it(tmp_path, cli):
    fifo = tmp_path / "out.fifo"
    os.mkfifo(fifo)
    got: list = []
    thread = _reader(fifo, got)
    done = cli("verify", CLEAN, "--json", fifo)
    thread.join(timeout=30)
    assert done.returncode == 0, done.stderr
    assert json.loads(got[0])["rows"] == 2000
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_a_fifo_nobody_reads_is_an_error_not_a_hang(tmp_path, monkeypatch):
    fifo = tmp_path / "out.fifo"
    os.mkfifo(fifo)
    monkeypatch.setattr(_io, "FIFO_WAIT", 0.3)
    started = time.monotonic()
    with pytest.raises(OutputError, match="no process is reading it"):
        emit_json({"ok": True}, str(fifo))
    assert time.monotonic() - started < 5
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_json_to_a_unix_socket_is_sent_to_it(tmp_path, cli):
    path = tmp_path / "out.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(1)
    server.settimeout(60)
    got: list = []

    def serve() -> None:
        conn, _ = server.accept()
        with conn:
            chunks = []
            while chunk := conn.recv(65536):
                chunks.append(chunk)
            got.append(b"".join(chunks))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        done = cli("verify", CLEAN, "--json", path)
        thread.join(timeout=30)
    finally:
        server.close()
    assert done.returncode == 0, done.stderr
    assert json.loads(got[0])["ok"] is True
    assert stat.S_ISSOCK(os.lstat(path).st_mode)


def test_json_through_a_symlink_replaces_its_target_and_keeps_the_link(tmp_path, cli):
    (tmp_path / "store").mkdir()
    real = tmp_path / "store" / "result.json"
    real.write_text("old\n")
    real.chmod(0o640)
    link = tmp_path / "result.json"
    link.symlink_to(real)
    done = cli("verify", CLEAN, "--json", link)
    assert done.returncode == 0, done.stderr
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert json.loads(real.read_text())["rows"] == 2000
    assert stat.S_IMODE(real.stat().st_mode) == 0o640  # a replaced file keeps its mode
    assert sorted(p.name for p in (tmp_path / "store").iterdir()) == ["result.json"]


def test_json_through_a_dangling_symlink_creates_its_target(tmp_path, cli):
    link = tmp_path / "result.json"
    link.symlink_to(tmp_path / "made.json")
    assert cli("verify", CLEAN, "--json", link).returncode == 0
    assert link.is_symlink() and json.loads((tmp_path / "made.json").read_text())["ok"]


def test_json_to_a_folder_is_exit_2(tmp_path, cli):
    done = cli("verify", CLEAN, "--json", tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip() == f"audit-analytics: error: cannot write {tmp_path}: a folder"
    assert list(tmp_path.iterdir()) == []


def test_report_replace_writes_through_symlinks(tmp_path, cli):
    out = tmp_path / "reports"
    args = ("report", CLEAN, "--period", "2024-01", "--out", out)
    assert cli(*args).returncode == 0
    keep = tmp_path / "kept"
    keep.mkdir()
    for name in ("audit-report_2024-01.html", "audit-report_2024-01.json"):
        (out / name).rename(keep / name)
        (out / name).symlink_to(keep / name)
    done = cli(*args, "--replace")
    assert done.returncode == 0, done.stderr
    for name in ("audit-report_2024-01.html", "audit-report_2024-01.json"):
        assert (out / name).is_symlink() and (keep / name).is_file()
    assert json.loads((keep / "audit-report_2024-01.json").read_text())["report"]["version"] == 1
    assert sorted(p.name for p in keep.iterdir()) == ["audit-report_2024-01.html",
                                                        "audit-report_2024-01.json"]
    recorded = Ledger().entries()["files"].iloc[-1]  # the file written, not the link
    assert recorded["json"]["path"] == str(keep / "audit-report_2024-01.json")


def test_concurrent_reports_of_one_period_take_distinct_versions(tmp_path):
    exe = Path(sys.executable).parent / "audit-analytics"
    out = tmp_path / "reports"
    procs = [subprocess.Popen([str(exe), "report", str(CLEAN), "--period", "2024-01",
                               "--out", str(out)], cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(3)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], [o[1] for o in outs]
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(f"audit-report_2024-01{v}.{fmt}" for v in ("", "_v2", "_v3")
                           for fmt in ("html", "json"))
    printed = sorted(line for o in outs for line in o[0].splitlines())
    assert printed == sorted(str(out / n) for n in names)  # each run names its own files
    entries = Ledger().entries()
    assert sorted(entries["version"]) == [1, 2, 3]
    for version, suffix in ((1, ""), (2, "_v2"), (3, "_v3")):
        written = json.loads((out / f"audit-report_2024-01{suffix}.json").read_text())
        assert written["report"]["version"] == version


def test_a_journal_that_is_a_fifo_never_hangs(tmp_path, cli):
    home = tmp_path / "home"
    home.mkdir()
    os.mkfifo(home / "journal.jsonl")
    exe = Path(sys.executable).parent / "audit-analytics"
    env = {**os.environ, "AUDIT_ANALYTICS_HOME": str(home)}
    shown = subprocess.run([str(exe), "journal", "show"], capture_output=True, text=True,
                           env=env, timeout=60)
    assert shown.returncode == 2
    assert "not a regular file" in shown.stderr
    done = subprocess.run([str(exe), "verify", str(CLEAN)], capture_output=True, text=True,
                          env=env, timeout=60)
    assert done.returncode == 0
    assert "access journal not written" in done.stderr
    assert stat.S_ISFIFO(os.lstat(home / "journal.jsonl").st_mode)


@ROOT_ONLY
def test_a_ledger_on_a_character_device_is_refused(tmp_path, cli):
    # a device would discard every record: the ledger and journal must be regular files
    home = tmp_path / "home"
    home.mkdir()
    _device(home / "ledger.jsonl", stat.S_IFCHR, 1, 3)
    with pytest.raises(LedgerError, match="not a regular file"):
        Ledger(home)._file.append({"actor_id": "a", "action": "report", "resource_type": "r",
                                   "resource_id": "x", "result": "pass"}, {})
    done = cli("--home", home, "ledger", "verify")
    assert done.returncode == 2 and "not a regular file" in done.stderr
    assert stat.S_ISCHR(os.lstat(home / "ledger.jsonl").st_mode)


@pytest.mark.parametrize("name, command", [("ledger.jsonl", "ledger"),
                                           ("journal.jsonl", "journal")])
def test_a_chain_file_linked_to_dev_null_is_refused_not_followed(tmp_path, cli, name, command):
    home = tmp_path / "home"
    home.mkdir()
    (home / name).symlink_to(os.devnull)
    done = cli("--home", home, command, "verify")
    assert done.returncode == 2, done.stdout
    assert "a symbolic link" in done.stderr and "empty" not in done.stdout
    report = cli("--home", home, "report", CLEAN, "--period", "2024-01",
                 "--out", tmp_path / "out")
    if command == "ledger":
        assert report.returncode == 2
    assert f"cannot use the {command} {home / name}: a symbolic link" in report.stderr
    assert os.readlink(home / name) == os.devnull


def test_a_chain_file_linked_to_a_regular_file_is_refused_too(tmp_path, cli):
    home = tmp_path / "home"
    home.mkdir()
    elsewhere = tmp_path / "elsewhere.jsonl"
    (home / "ledger.jsonl").symlink_to(elsewhere)  # dangling: an append would create it
    done = cli("--home", home, "report", CLEAN, "--period", "2024-01", "--out", tmp_path / "o")
    assert done.returncode == 2 and "a symbolic link" in done.stderr
    assert not elsewhere.exists()
    assert cli("--home", home, "ledger", "verify").returncode == 2


@pytest.mark.parametrize("name, command", [("ledger.jsonl", "ledger"),
                                           ("journal.jsonl", "journal")])
def test_a_planted_file_without_entries_is_never_appended_to(tmp_path, cli, name, command):
    home = tmp_path / "home"
    home.mkdir()
    planted = "an unrelated file\nwith two lines\n"
    (home / name).write_text(planted)
    done = cli("--home", home, "report", CLEAN, "--period", "2024-01",
               "--out", tmp_path / "out")
    assert f"cannot append to the {command}" in done.stderr
    assert "holds no" in done.stderr and "damaged" not in done.stderr
    assert (home / name).read_text() == planted


def test_a_ledger_that_is_a_fifo_is_refused(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    os.mkfifo(home / "ledger.jsonl")
    with pytest.raises(LedgerError, match="not a regular file"):
        Ledger(home)._file.append({"actor_id": "a", "action": "report"}, {})
