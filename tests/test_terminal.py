"""Values from the log never act on the terminal: human output escapes them, JSON is exact."""

import json

import pyarrow.parquet as pq
import pytest
from hostile import CLEAN, hostile_log, replace_actor

from audit_analytics._text import escape_json, printable, shown, terminal_text

TITLE = "\x1b]0;pwned\x07"              # OSC: retitles the terminal
ERASE = "\x1b[2K\rchain_integrity PASS"  # CSI: erases the line, then forges one
NEWLINE = "x\nchain_integrity PASS"      # a forged line of its own
RLO = "\u202eSSAP"                       # reads "PASS" right to left
C1 = "\x9b31mred"                        # the one-character CSI introducer
EVIL = {"u-0020": TITLE, "u-0021": ERASE, "u-0022": NEWLINE, "u-0023": RLO, "u-0024": C1}
RAW = ("\x1b", "\x07", "\r", "\x9b", "\u202e")


@pytest.fixture(scope="module")
def evil_log(tmp_path_factory):
    """Five actors with hostile ids, and the head (the last event) with a hostile id."""
    rows = pq.read_table(CLEAN, columns=["id", "timestamp"]).to_pylist()
    head_id = max(rows, key=lambda r: (r["timestamp"], r["id"]))["id"]

    def edit(row):
        row["actor_id"] = EVIL.get(row["actor_id"], row["actor_id"])
        if row["id"] == head_id:
            row["id"] = TITLE + row["id"]

    return hostile_log(tmp_path_factory.mktemp("evil") / "evil.parquet", edit)


def assert_safe(text: str) -> None:
    for char in RAW:
        assert char not in text, (char, text[:2000])
    for line in text.splitlines():
        assert not line.lstrip().startswith("chain_integrity PASS"), line


def test_helpers():
    assert printable(TITLE) == "\\x1b]0;pwned\\x07"
    assert printable(ERASE) == "\\x1b[2K\\rchain_integrity PASS"
    assert printable(NEWLINE) == "x\\nchain_integrity PASS"
    assert printable(RLO) == "\\u202eSSAP" and printable(C1) == "\\x9b31mred"
    assert printable("tab\there \u200b \U000e0041") == "tab\\there \\u200b \\U000e0041"
    plain = "caf\u00e9 \u05d3\u05d5\u05d3 $\\alpha$ C:\\x1b"  # text, not controls
    assert printable(plain) == plain
    assert shown("a" * 1000) == "a" * 200 + "\u2026 (1,000 characters)"
    assert shown(RLO * 300).startswith("\\u202e") and shown(RLO * 300).endswith(
        "\u2026 (1,500 characters)")
    assert terminal_text("one\ntwo\x1b[2K") == "one\ntwo\\x1b[2K"
    text = json.dumps({"v": TITLE + C1 + RLO}, ensure_ascii=False)
    assert json.loads(escape_json(text)) == {"v": TITLE + C1 + RLO}
    assert not any(c in escape_json(text) for c in RAW)


def test_check_escapes_actor_ids(cli, evil_log):
    proc = cli("check", evil_log)
    assert proc.returncode == 0, proc.stderr
    assert_safe(proc.stdout + proc.stderr)
    assert "\\x1b]0;pwned\\x07" in proc.stdout


def test_check_json_stays_exact(cli, evil_log):
    proc = cli("check", evil_log, "--json", "-")
    assert proc.returncode == 0, proc.stderr
    assert_safe(proc.stdout)
    doc = json.loads(proc.stdout)
    # six days are too short a history to judge anyone: the actors are listed, exactly,
    # among those with an insufficient baseline (and in any finding that names them)
    actors = {f.get("actor_id") for c in doc["checks"] for f in c["findings"]}
    actors |= {s["actor_id"] for c in doc["checks"]
               for s in (c["metrics"].get("insufficient_baseline") or {}).get("by_actor", [])}
    assert {TITLE, ERASE, NEWLINE, RLO, C1} <= actors


def test_verify_escapes_the_head_id(cli, evil_log):
    proc = cli("verify", evil_log)
    assert proc.returncode == 0, proc.stderr
    assert_safe(proc.stdout + proc.stderr)
    assert "head: \\x1b]0;pwned\\x07" in proc.stdout
    doc = json.loads(cli("verify", evil_log, "--json", "-").stdout)
    assert doc["head"]["id"].startswith(TITLE)


def test_load_summary_escapes_the_head_id(cli, evil_log, tmp_path):
    proc = cli("load", evil_log, "--into", tmp_path / "events.duckdb")
    assert proc.returncode == 0, proc.stderr
    assert_safe(proc.stdout + proc.stderr)
    assert "head: \\x1b]0;pwned\\x07" in proc.stdout


def test_journal_and_ledger_show_escape_the_actor(cli, tmp_path):
    home = tmp_path / "home"
    actor = "\x1b]0;pwned\x07\nchain_integrity PASS\u202e"
    proc = cli("--home", home, "--actor", actor, "report",
               "data_samples/python_seed/clean.parquet", "--period", "2024-01",
               "--out", tmp_path / "out")
    assert proc.returncode == 0, proc.stderr
    for command in (("journal", "show"), ("ledger", "show")):
        proc = cli("--home", home, *command)
        assert proc.returncode == 0, proc.stderr
        assert_safe(proc.stdout + proc.stderr)
        assert "\\x1b]0;pwned\\x07\\nchain_integrity" in proc.stdout
        lines = cli("--home", home, *command, "--json").stdout.splitlines()
        assert actor in [json.loads(line).get("actor_id") for line in lines]


def test_error_messages_are_one_safe_line(cli, tmp_path):
    proc = cli("verify", tmp_path / f"missing{TITLE}\n{ERASE}.parquet")
    assert proc.returncode == 2
    assert_safe(proc.stderr)
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "\\x1b]0;pwned\\x07" in proc.stderr


def test_huge_value_is_clipped_on_the_terminal(cli, tmp_path):
    huge = "A" * 1_000_000 + "\u202etxt.exe"
    log = hostile_log(tmp_path / "huge.parquet", replace_actor("u-0020", huge))
    proc = cli("check", log)
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout) < 50_000
    assert_safe(proc.stdout)
    assert "A" * 200 + "\u2026 (1,000,008 characters)" in proc.stdout
    doc = json.loads(cli("check", log, "--json", "-").stdout)
    assert huge in {f.get("actor_id") for c in doc["checks"] for f in c["findings"]}
