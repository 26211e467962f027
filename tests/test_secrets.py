"""Passwords never reach output, in any of the forms a connection can carry them.

The end-to-end cases log in to a real PostgreSQL server (``tests/pgserver.py``) as roles
whose passwords hold ``/``, a space, ``;``, ``:``, ``@`` and ``%``, and look for any piece
of those passwords in everything the toolkit writes.
"""

import json
import re
from urllib.parse import quote, quote_plus

import duckdb
import pytest
from pgserver import start_server

import audit_analytics as aa
from audit_analytics._secrets import mask_secrets

# Each password is made of distinctive pieces joined by the characters that broke masking:
# finding any piece anywhere is a leak, even of part of a password.
PIECES_1 = ("Qw7Kx", "zX4Jm", "pL9Vb", "tR2Nc", "vB5Hd")
PIECES_2 = ("Hn3Jq", "mY6Lw", "uE8Pz", "cW1Ks", "dF4Gt", "gS0Rf")
PW_1 = "Qw7Kx/zX4Jm pL9Vb;tR2Nc:vB5Hd%zz"          # no "@": it may stand raw in a URL
PW_2 = "Hn3Jq@mY6Lw/uE8Pz cW1Ks;dF4Gt:gS0Rf%41"     # "@" and "%41": percent-encoded in URLs
PIECES = PIECES_1 + PIECES_2


def _leaks(text: str) -> list[str]:
    return [piece for piece in PIECES if piece in text]


@pytest.mark.parametrize("text", [
    "postgresql://app:s3cr3t@db:5432/prod",
    "postgresql+psycopg://app:s3cr3t@db/prod?sslmode=require",
    "postgresql://app@db/prod?password=s3cr3t",
    "postgresql://app@db/prod?sslmode=require&password=s3cr3t&x=1",
    "host=db user=app password=s3cr3t dbname=prod",
])
def test_every_password_form_is_masked(text):
    masked = mask_secrets(text)
    assert "s3cr3t" not in masked and "***" in masked


@pytest.mark.parametrize("text, expected", [
    (f"postgresql://app:{PW_1}@db:5432/prod", "postgresql://app:***@db:5432/prod"),
    (f"postgresql://app:{quote(PW_2, safe='')}@db/prod", "postgresql://app:***@db/prod"),
    (f"postgresql://app@db/prod?password={PW_1}", "postgresql://app@db/prod?password=***"),
    (f"postgresql://app@db/prod?password={PW_1}&sslmode=require",
     "postgresql://app@db/prod?password=***&sslmode=require"),
    (f"postgresql://app@db/prod?sslmode=require&password={quote_plus(PW_2)}",
     "postgresql://app@db/prod?sslmode=require&password=***"),
    (f"host=db password='{PW_1}' dbname=prod", "host=db password=*** dbname=prod"),
    ("host=db password = 'Qw7Kx\\' zX4Jm' dbname=prod", "host=db password = *** dbname=prod"),
    (f"host=db password={PW_1.replace(' ', '')} dbname=prod",
     "host=db password=*** dbname=prod"),
    (f"SELECT * FROM postgres_scan('host=db password=''{PW_2}'' dbname=x', 'public', 't')",
     "SELECT * FROM postgres_scan('host=db password=*** dbname=x', 'public', 't')"),
    (f"cannot connect to postgresql://app:{PW_1}@db/prod: refused",
     "cannot connect to postgresql://app:***@db/prod: refused"),
    ("Server=db;Uid=app;Pwd={Qw7Kx b}}zX4Jm};", "Server=db;Uid=app;Pwd=***;"),
])
def test_passwords_with_any_character_are_masked_whole(text, expected):
    masked = mask_secrets(text)
    assert masked == expected
    assert mask_secrets(masked) == masked  # masking twice changes nothing more


def test_masked_labels_are_kept_as_they_are():
    for label in ("postgresql://app@db/prod?password=*** table audit_logs",
                  "postgresql://app:***@db:5432/prod table audit.audit_logs",
                  "postgresql://auditor@db:5432/app table audit_logs",
                  "data_samples/python_seed/clean.parquet"):
        assert mask_secrets(label) == label


def test_pgpassword_is_masked_wherever_it_appears(monkeypatch):
    monkeypatch.setenv("PGPASSWORD", PW_1)
    assert not _leaks(mask_secrets(f"the driver said: {PW_1} / {quote(PW_1, safe='')}"))


def test_cli_never_prints_a_query_string_password(cli):
    proc = cli("verify", "postgresql://app@127.0.0.1:1/prod?password=s3cr3t")
    assert proc.returncode == 2
    assert "s3cr3t" not in proc.stdout + proc.stderr
    assert "password=***" in proc.stderr


def test_a_short_password_is_not_revealed_by_masking_the_driver_message(cli, tmp_path):
    # libpq's message names the socket it tried; "e" is shorter than MIN_ECHOED, so only
    # where it stands as a password is it masked, and the message reads as written
    proc = cli("verify", f"postgresql://u:e@/db?host={tmp_path}/absent")
    assert proc.returncode == 2
    assert "Failed to connect" in proc.stderr and "***ct" not in proc.stderr, proc.stderr
    assert "postgresql://u:***@" in proc.stderr


def test_an_echoed_long_password_is_masked_in_a_driver_message(cli, tmp_path):
    secret = "Zq8Wv3Lk"
    proc = cli("verify", f"postgresql://u:{secret}@/db?host={tmp_path}/{secret}")
    assert proc.returncode == 2 and "Failed to connect" in proc.stderr, proc.stderr
    assert secret not in proc.stdout + proc.stderr


def test_sql_text_in_the_journal_is_masked(samples, tmp_path, monkeypatch):
    monkeypatch.setenv("AUDIT_ANALYTICS_HOME", str(tmp_path / "home"))
    with aa.open(samples / "python_seed" / "clean.parquet") as log:
        log.sql(f"SELECT 'postgresql://app:{PW_1}@db/prod' AS a, "
                f"'host=db password=''{PW_2}''' AS b, count(*) FROM events")
        with pytest.raises(Exception):  # noqa: B017 - any engine error; the journal matters
            log.sql(f"SELECT * FROM nowhere WHERE x = 'postgresql://app@db/p?password={PW_1}'")
    journal = (tmp_path / "home" / "journal.jsonl").read_text()
    assert '"action": "sql"' in journal
    assert not _leaks(journal), journal


# --- end to end, against a real server --------------------------------------------------
@pytest.fixture(scope="module")
def server(samples):
    from audit_analytics.samples.load_postgres import load_samples

    pg = start_server()
    try:
        load_samples(pg.create_database("aa_secrets"), samples)
        with pg.connect("aa_secrets") as con:
            for role, password in (("ro_one", PW_1), ("ro_two", PW_2)):
                con.execute(f"DROP ROLE IF EXISTS {role}")
                con.execute(f"CREATE ROLE {role} LOGIN PASSWORD "
                            f"'{password.replace(chr(39), chr(39) * 2)}'")
                con.execute(f"GRANT USAGE ON SCHEMA python_seed TO {role}")
                con.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA python_seed TO {role}")
        yield pg
    finally:
        pg.stop()


def _shapes(pg) -> dict:
    where = f"127.0.0.1:{pg.port}/aa_secrets"
    return {
        "userinfo-raw": (f"postgresql://ro_one:{PW_1}@{where}", {}),
        "userinfo-encoded": (f"postgresql://ro_two:{quote(PW_2, safe='')}@{where}", {}),
        "query-raw": (f"postgresql://ro_one@{where}?password={PW_1}", {}),
        "query-encoded": (f"postgresql://ro_two@{where}?sslmode=disable&password="
                          f"{quote_plus(PW_2)}", {}),
        "pgpassword": (f"postgresql://ro_two@{where}", {"PGPASSWORD": PW_2}),
    }


@pytest.mark.postgres
@pytest.mark.parametrize("shape", ["userinfo-raw", "userinfo-encoded", "query-raw",
                                   "query-encoded", "pgpassword"])
def test_no_piece_of_a_password_is_written_anywhere(server, cli, tmp_path, monkeypatch, shape):
    home = tmp_path / "home"
    monkeypatch.setenv("AUDIT_ANALYTICS_HOME", str(home))
    url, env = _shapes(server)[shape]
    table = ["--table", "python_seed.audit_logs"]
    runs = [
        cli("verify", url, *table, "--json", tmp_path / "verify.json", env=env),
        cli("check", url, *table, "--json", "-", "--only", "required_fields", env=env),
        cli("report", url, *table, "--period", "2024-01", "--out", tmp_path / "reports",
            env=env),
        cli("load", url, "--table", "python_seed.audit_logs", "--into",
            tmp_path / "events.duckdb", "--json", tmp_path / "load.json", env=env),
    ]
    for proc in runs:
        assert proc.returncode in (0, 1), proc.stderr
        assert not _leaks(proc.stdout + proc.stderr), proc.stdout + proc.stderr
    written = [tmp_path / "verify.json", tmp_path / "load.json", home / "journal.jsonl",
               *home.glob("ledger*"), *(tmp_path / "reports").iterdir()]
    assert any(p.suffix == ".html" for p in written)
    for path in written:
        assert not _leaks(path.read_text(encoding="utf-8", errors="replace")), path
    assert "***" in (tmp_path / "verify.json").read_text() or shape == "pgpassword"
    with duckdb.connect(str(tmp_path / "events.duckdb"), read_only=True) as con:
        rows = con.execute("SELECT * FROM load_runs").fetchall()
    assert rows and not _leaks(json.dumps(rows, default=str))


@pytest.mark.postgres
def test_a_rejected_login_never_echoes_the_password(server, cli, tmp_path, monkeypatch):
    monkeypatch.setenv("AUDIT_ANALYTICS_HOME", str(tmp_path / "home"))
    where = f"127.0.0.1:{server.port}/aa_secrets"
    wrong = PW_1[::-1].replace("%", "")
    for url in (f"postgresql://ro_one:{wrong}@{where}",
                f"postgresql://ro_one@{where}?password={wrong}"):
        proc = cli("verify", url, "--table", "python_seed.audit_logs")
        assert proc.returncode == 2 and "login rejected" in proc.stderr, proc.stderr
        assert not re.search("|".join(p[::-1] for p in PIECES_1), proc.stderr), proc.stderr
    journal = (tmp_path / "home" / "journal.jsonl").read_text()
    assert not re.search("|".join(p[::-1] for p in PIECES_1), journal), journal
