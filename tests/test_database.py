"""Audit tables in SQLite files read through SQLAlchemy Core (any non-PostgreSQL database)."""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from audit_analytics.sources import open_source
from audit_analytics.sources.database import DatabaseSource

DDL = """
CREATE TABLE audit_logs (
    id TEXT PRIMARY KEY, timestamp TEXT NOT NULL, actor_id TEXT, actor_type TEXT,
    action TEXT, resource_type TEXT, resource_id TEXT, result TEXT, ip_address TEXT,
    user_agent TEXT, session_id TEXT, changed_fields TEXT, old_values TEXT, reason TEXT,
    prev_hash TEXT NOT NULL, hash TEXT NOT NULL, attempt INTEGER, score REAL
)"""


class SQLiteAuditLogger:
    """A producer of its own: the seed's Python hashing rule, written to a SQLite table."""

    def __init__(self, path) -> None:
        self.con = sqlite3.connect(path)
        self.con.execute(DDL)
        self.last = "GENESIS"
        self.clock = datetime(2024, 3, 1, 8, 0, tzinfo=UTC)

    def log(self, actor: str, action: str, resource: str, result: str = "success") -> None:
        self.clock += timedelta(seconds=37, microseconds=1234)
        entry = {"id": str(uuid.uuid4()), "timestamp": self.clock.isoformat(),
                 "actor_id": actor, "action": action, "resource_type": "patient_record",
                 "resource_id": resource, "result": result, "prev_hash": self.last}
        digest = hashlib.sha256(json.dumps(entry, sort_keys=True).encode()).hexdigest()
        self.con.execute(
            "INSERT INTO audit_logs (id, timestamp, actor_id, actor_type, action, resource_type,"
            " resource_id, result, ip_address, prev_hash, hash, attempt, score) "
            "VALUES (?, ?, ?, 'user', ?, ?, ?, ?, '10.0.0.1', ?, ?, ?, ?)",
            (entry["id"], entry["timestamp"], actor, action, "patient_record", resource, result,
             self.last, digest, 1, 0.5))
        self.last = digest

    def close(self) -> None:
        self.con.commit()
        self.con.close()


@pytest.fixture
def audit_db(tmp_path):
    path = tmp_path / "audit.db"
    logger = SQLiteAuditLogger(path)
    for i in range(300):
        logger.log(f"u{i % 7}", "read" if i % 3 else "update", f"p{i % 40}",
                   "denied" if i % 50 == 0 else "success")
    logger.close()
    return path


def _tampered(audit_db, tmp_path, statement: str):
    copy = tmp_path / "tampered.db"
    shutil.copy(audit_db, copy)
    con = sqlite3.connect(copy)
    con.execute(statement)
    con.commit()
    con.close()
    return copy


def test_a_sqlite_table_from_a_producer_of_our_own_verifies(audit_db, cli):
    before = audit_db.read_bytes()
    done = cli("verify", f"sqlite:///{audit_db}", "--json", "-")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["ok"] and result["rows"] == 300 and result["profile"] == "python-seed"
    assert audit_db.read_bytes() == before  # read-only: nothing written to the file


def test_a_tampered_copy_is_caught_row_by_row(audit_db, tmp_path, cli):
    rowid = 120
    copy = _tampered(audit_db, tmp_path,
                     f"UPDATE audit_logs SET actor_id = 'mallory' WHERE rowid = {rowid}")
    done = cli("verify", f"sqlite:///{copy}", "--json", "-")
    assert done.returncode == 1, done.stderr
    result = json.loads(done.stdout)
    kinds = {f["kind"] for f in result["findings"]}
    assert "hash_mismatch" in kinds
    mismatch = next(f for f in result["findings"] if f["kind"] == "hash_mismatch")
    assert f"audit_logs row {rowid - 1}" in json.dumps(mismatch)
    deleted = _tampered(audit_db, tmp_path / "..", "DELETE FROM audit_logs WHERE rowid = 200")
    result = json.loads(cli("verify", f"sqlite:///{deleted}", "--json", "-").stdout)
    assert not result["ok"]
    assert "missing_predecessor" in {f["kind"] for f in result["findings"]}


def test_check_report_and_load_read_a_sqlite_table(audit_db, tmp_path, cli):
    url = f"sqlite:///{audit_db}"
    checked = cli("check", url, "--json", "-")
    assert checked.returncode == 0, checked.stderr
    assert json.loads(checked.stdout)["checks"]
    out = tmp_path / "reports"
    reported = cli("report", url, "--period", "2024-03", "--out", out)
    assert reported.returncode == 0, reported.stderr
    assert any(out.rglob("*.html"))
    target = tmp_path / "events.duckdb"
    loaded = cli("load", url, "--into", target)
    assert loaded.returncode == 0, loaded.stderr
    assert cli("verify", target).returncode == 0


def test_the_stream_arrives_in_batches_with_types_of_their_own(audit_db):
    source = DatabaseSource(f"sqlite:///{audit_db}", batch_rows=64)
    with source.batches() as (schema, stream):
        sizes = [batch.num_rows for batch in stream]
    assert sizes == [64, 64, 64, 64, 44]
    assert str(schema.field("attempt").type) == "int64"
    assert str(schema.field("score").type) == "double"
    assert str(schema.field("timestamp").type) == "string"  # stored text, as hashed


def test_the_sqlite_file_is_opened_read_only(audit_db):
    source = DatabaseSource(f"sqlite:///{audit_db}")
    with source.session() as con, pytest.raises(Exception, match="readonly|read-only|query_only"):
        con.exec_driver_sql("DELETE FROM audit_logs")


def test_the_table_option_names_another_table(audit_db, cli):
    # the same chain under another table name, read with --table
    con = sqlite3.connect(audit_db)
    con.execute("ALTER TABLE audit_logs RENAME TO events_2024")
    con.commit()
    con.close()
    done = cli("verify", f"sqlite:///{audit_db}", "--table", "events_2024")
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("url, table, message", [
    ("sqlite:///{tmp}/missing.db", None, "SQLite database not found"),
    ("sqlite:///{db}", "nope", "table nope not found at sqlite:///"),
    ("sqlite://", None, "name a SQLite database file"),
    ("nosuchdialect://x/y", None, "SQLAlchemy knows no database dialect 'nosuchdialect'"),
    ("mysql+pymysql://auditor:hunter2-secret@127.0.0.1:1/audit", None,
     "need the pymysql package"),
])
def test_bad_database_sources_are_one_line_errors(audit_db, tmp_path, cli, url, table, message):
    args = ["verify", url.format(tmp=tmp_path, db=audit_db)] + (["--table", table] if table else [])
    done = cli(*args)
    assert done.returncode == 2 and message in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert "hunter2-secret" not in done.stderr
    assert not (tmp_path / "missing.db").exists()


def test_a_table_without_the_chain_columns_is_a_schema_error(tmp_path, cli):
    path = tmp_path / "other.db"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE audit_logs (id TEXT, timestamp TEXT)")
    con.commit()
    con.close()
    done = cli("verify", f"sqlite:///{path}")
    assert done.returncode == 2 and "lacks column(s) prev_hash, hash" in done.stderr


def test_open_source_routes_urls_by_scheme(audit_db):
    assert isinstance(open_source(f"sqlite:///{audit_db}"), DatabaseSource)
    assert open_source(f"sqlite:///{audit_db}").label == f"sqlite:///{audit_db} table audit_logs"
