"""Hostile paths and values handed to the real CLI: a one-line error (exit 2) or a finding.

A FIFO or a device as a Parquet source, a file where the archive folder should be, an
output path inside the archive it describes or naming a file the source reads, an empty
time window and a manifest entry naming a path no file system can hold.
"""

import json
import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CLEAN = ROOT / "data_samples/python_seed/clean.parquet"


def one_line_error(result, code: int = 2) -> str:
    """The single stderr line of a run that exited ``code`` without a traceback."""
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """A key pair and a six-day archive of the clean sample, made once."""
    from conftest import run_cli

    base = tmp_path_factory.mktemp("hostile")
    env = {"AUDIT_ANALYTICS_HOME": str(base / "home")}
    assert run_cli("keygen", "--out", base / "k", env=env).returncode == 0
    done = run_cli("archive", CLEAN, "--to", base / "arc", "--key", base / "k.key", env=env)
    assert done.returncode == 0, done.stderr
    return base


@pytest.fixture
def archive(made, tmp_path):
    """A fresh copy of the archive, with its keys."""
    shutil.copytree(made / "arc", tmp_path / "arc")
    return tmp_path / "arc", made / "k.key", made / "k.pub"


def test_a_fifo_or_a_device_as_a_parquet_source_is_refused_at_once(cli, tmp_path):
    fifo = tmp_path / "events.parquet"
    os.mkfifo(fifo)
    line = one_line_error(cli("verify", fifo))
    assert "a FIFO, not a regular file" in line
    device = tmp_path / "dev.parquet"
    try:
        os.mknod(device, 0o600 | 0o020000, os.makedev(1, 3))  # a character device
    except PermissionError:
        pytest.skip("mknod needs privileges here")
    assert "a character device" in one_line_error(cli("verify", device))


def test_a_fifo_as_the_source_of_an_archive_run_is_refused(cli, archive, tmp_path):
    _, key, _ = archive
    fifo = tmp_path / "in.parquet"
    os.mkfifo(fifo)
    line = one_line_error(cli("archive", fifo, "--to", tmp_path / "new", "--key", key))
    assert "a FIFO" in line


@pytest.mark.parametrize("kind", ["file", "fifo", "under-a-file"])
def test_archive_into_something_that_is_not_a_folder_is_bad_input(cli, archive, tmp_path,
                                                                  kind):
    _, key, _ = archive
    target = tmp_path / "target"
    if kind == "fifo":
        os.mkfifo(target)
    else:
        target.write_bytes(b"keep me")
    to = target / "sub" if kind == "under-a-file" else target
    line = one_line_error(cli("archive", CLEAN, "--to", to, "--key", key))
    assert "is not a folder" in line
    if kind != "fifo":
        assert target.read_bytes() == b"keep me"


@pytest.mark.parametrize("command", ["archive", "spot-check", "verify"])
@pytest.mark.parametrize("inside", ["manifest.jsonl", "date=2024-01-15/part-000000.parquet",
                                    "new.json"])
def test_an_output_inside_the_archive_is_refused_and_nothing_is_clobbered(
        cli, archive, command, inside):
    arc, key, pub = archive
    before = {p: p.read_bytes() for p in arc.rglob("*") if p.is_file()}
    args = {"archive": ["archive", CLEAN, "--to", arc, "--key", key],
            "spot-check": ["spot-check", arc, "--public-key", pub, "--all"],
            "verify": ["verify", arc, "--public-key", pub]}[command]
    line = one_line_error(cli(*args, "--json", arc / inside))
    assert "inside the archive folder" in line
    after = {p: p.read_bytes() for p in arc.rglob("*") if p.is_file()}
    assert after == before
    assert cli("spot-check", arc, "--public-key", pub, "--all").returncode == 0


def test_an_output_reaching_the_archive_through_a_symlink_is_refused(cli, archive, tmp_path):
    arc, _, pub = archive
    (tmp_path / "link").symlink_to(arc)
    head = (arc / "manifest.jsonl").read_bytes()
    line = one_line_error(cli("verify", arc, "--json", tmp_path / "link/manifest.jsonl"))
    assert "inside the archive folder" in line
    assert (arc / "manifest.jsonl").read_bytes() == head


@pytest.mark.parametrize("spelling", ["same", "symlink", "hardlink", "relative"])
@pytest.mark.parametrize("command", ["verify", "check"])
def test_an_output_naming_a_file_the_source_reads_is_refused(cli, tmp_path, command,
                                                              spelling):
    logs = tmp_path / "logs"
    logs.mkdir()
    target = logs / "b.parquet"
    shutil.copy(CLEAN, target)
    before = target.read_bytes()
    out = {"same": target, "symlink": tmp_path / "out.json", "hardlink": tmp_path / "hard",
           "relative": Path("logs/../logs/b.parquet")}[spelling]
    if spelling == "symlink":
        out.symlink_to(target)
    elif spelling == "hardlink":
        os.link(target, out)
    args = {"verify": ["verify", logs], "check": ["check", logs]}[command]
    line = one_line_error(cli(*args, "--json", out, cwd=tmp_path))
    assert "it is a file the source reads" in line
    assert target.read_bytes() == before
    assert cli("verify", logs).returncode == 0
    # a new file beside the source's files is an ordinary output
    assert cli("verify", logs, "--json", logs / "result.json").returncode == 0


def test_a_failed_archive_run_leaves_no_folder_it_created(cli, made, tmp_path):
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"not parquet")
    line = one_line_error(cli("archive", bad, "--to", tmp_path / "new/arc",
                              "--key", made / "k.key"))
    assert "not a readable Parquet file" in line
    assert not (tmp_path / "new").exists()
    kept = tmp_path / "kept"
    kept.mkdir()  # a folder that was there before is left as it was
    one_line_error(cli("archive", bad, "--to", kept, "--key", made / "k.key"))
    assert kept.is_dir() and not any(kept.iterdir())


def test_spot_check_tells_a_missing_archive_from_a_file(cli, made, tmp_path):
    pub = made / "k.pub"
    missing = one_line_error(cli("spot-check", tmp_path / "nothing", "--public-key", pub))
    assert "archive folder not found" in missing
    a_file = one_line_error(cli("spot-check", CLEAN, "--public-key", pub))
    assert "not an archive folder" in a_file and "is a file" in a_file


def test_loading_a_duckdb_file_into_itself_is_refused(cli, tmp_path):
    import audit_analytics as aa
    from audit_analytics.load import load_into

    db = tmp_path / "events.duckdb"
    assert cli("load", CLEAN, "--into", db).returncode == 0
    before = db.read_bytes()
    line = one_line_error(cli("load", db, "--into", db))
    assert "it is a file the source reads" in line
    assert db.read_bytes() == before
    with pytest.raises(aa.OutputError, match="it is a file the source reads"):
        load_into(str(db), db)  # the library refuses it too
    # a notebook may read the file, then load more rows into it
    with aa.open(db) as log:
        assert log.sql("SELECT count(*) AS n FROM events")["n"][0] == 2000
    assert load_into(str(CLEAN), db).rows_appended == 0


@pytest.mark.parametrize("command", ["archive", "reconcile", "check"])
def test_until_before_since_is_bad_input_not_an_empty_pass(cli, archive, tmp_path, command):
    arc, key, _ = archive
    window = ["--since", "2024-01-18T00:00:00Z", "--until", "2024-01-16T00:00:00Z"]
    args = {"archive": ["archive", CLEAN, "--to", tmp_path / "new", "--key", key],
            "reconcile": ["reconcile", CLEAN, arc],
            "check": ["check", CLEAN]}[command]
    line = one_line_error(cli(*args, *window,
                              env={"AUDIT_ANALYTICS_HOME": str(tmp_path / "home")}))
    assert "must be after --since" in line
    assert not (tmp_path / "new").exists()


def _rewrite_path(arc: Path, seq: int, path: str) -> None:
    manifest = arc / "manifest.jsonl"
    lines = manifest.read_bytes().splitlines()
    entry = json.loads(lines[seq])
    entry["path"] = path
    lines[seq] = json.dumps(entry).encode()
    manifest.write_bytes(b"".join(line + b"\n" for line in lines))


@pytest.mark.parametrize("path", ["A" * 300, "date=2024-01-16/" + "B" * 300 + ".parquet",
                                  "a/" * 600 + "x.parquet"])
def test_a_manifest_path_too_long_for_any_file_system_is_a_finding(cli, archive, path):
    arc, _, pub = archive
    _rewrite_path(arc, 1, path)
    result = cli("spot-check", arc, "--public-key", pub, "--all", "--json", "-")
    assert result.returncode == 1, result.stderr
    doc = json.loads(result.stdout)
    broken = [f for f in doc["findings"] if f["kind"] == "manifest_broken"]
    assert any("not a plain path" in json.dumps(f) for f in broken)
    assert len(result.stderr) < 1000


def test_a_profile_expression_naming_an_extension_function_never_installs_it(cli, tmp_path):
    from audit_analytics._engine import Engine

    assert Engine().scalar("SELECT current_setting('autoinstall_known_extensions')") is False
    home = tmp_path / "duckdb-home"
    profile = tmp_path / "p.toml"
    profile.write_text('name = "x"\ntext = "sql"\n'
                       'expression = "sql_auto_complete(id)[1]::VARCHAR"\n')
    line = one_line_error(cli("profile", "test", CLEAN, "--profile", profile,
                              env={"HOME": str(home)}))
    assert "the function sql_auto_complete()" in line  # refused before anything runs
    assert not list(home.rglob("*.duckdb_extension"))


def test_cloudtrail_json_nested_too_deeply_is_bad_input_or_an_invalid_digest(cli, tmp_path):
    import datetime as dt
    import gzip

    import cloudtrail_tree as ct

    start = dt.datetime(2026, 11, 2, tzinfo=dt.UTC)
    key = ct.new_key(start - dt.timedelta(days=1), start + dt.timedelta(days=30))
    trail = ct.build_trail(start, 6, [key])
    root = trail.write(tmp_path / "trail")
    keys = tmp_path / "keys.json"
    keys.write_text("[" * 100_000)
    window = ["--start-time", "2026-11-02T00:00:00Z", "--end-time", "2026-11-02T06:00:00Z"]
    line = one_line_error(cli("cloudtrail", "validate", root, "--public-keys", keys, *window))
    assert "nested too deeply" in line
    keys.write_text(json.dumps(ct.keys_document([key])))
    assert cli("cloudtrail", "validate", root, "--public-keys", keys, *window).returncode == 0
    (root / trail.digests[2]).write_bytes(gzip.compress(b"[" * 100_000))
    result = cli("cloudtrail", "validate", root, "--public-keys", keys, *window)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    assert "nested too deeply" in result.stdout


def test_a_journal_line_nested_too_deeply_is_a_malformed_entry_not_a_crash(cli, tmp_path):
    env = {"AUDIT_ANALYTICS_HOME": str(tmp_path / "home")}
    assert cli("verify", CLEAN, env=env).returncode == 0
    journal = tmp_path / "home/journal.jsonl"
    with journal.open("a") as handle:
        handle.write("[" * 100_000 + "\n")
    checked = cli("journal", "verify", env=env)
    assert checked.returncode == 1, checked.stderr
    assert "nested too deeply" in checked.stdout
    assert "internal error" not in checked.stderr
    again = cli("verify", CLEAN, env=env)
    assert again.returncode == 0 and "internal error" not in again.stderr
    assert cli("journal", "show", env=env).returncode == 0


def test_an_archive_run_killed_while_writing_parts_leaves_nothing_the_next_run_trips_on(
        made, tmp_path):
    import signal
    import subprocess
    import sys

    from test_archive import events, write

    from audit_analytics.samples.activity import chain_table

    source = write(chain_table(events(200_000, 200)), tmp_path / "big.parquet")
    target = tmp_path / "arc"
    exe = Path(sys.executable).parent / "audit-analytics"
    env = {**os.environ, "AUDIT_ANALYTICS_HOME": str(tmp_path / "home")}
    run = subprocess.Popen([exe, "archive", source, "--to", target, "--key", made / "k.key"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    while run.poll() is None and not list(target.glob("*/*.parquet")):
        pass
    run.send_signal(signal.SIGKILL)
    run.wait()
    assert run.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    assert list(target.glob("*/*.parquet")) and not (target / "manifest.jsonl").exists()
    again = subprocess.run([exe, "archive", source, "--to", target, "--key", made / "k.key",
                            "--json", "-"], capture_output=True, text=True, env=env)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["rows"] == 200_000
    checked = subprocess.run([exe, "spot-check", target, "--public-key", made / "k.pub",
                              "--all"], capture_output=True, text=True, env=env)
    assert checked.returncode == 0, checked.stdout
    assert not (target / ".archive.pending").exists()
