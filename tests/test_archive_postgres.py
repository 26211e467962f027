"""An archive of a PostgreSQL table, reconciled against the table (a real server)."""

import json

import pytest
from pgserver import start_server

from audit_analytics.samples.load_postgres import load_samples

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def pg_url(samples):
    server = start_server()
    try:
        url = server.create_database("aa_archive")
        load_samples(url, samples)
        yield server, url
    finally:
        server.stop()


def test_archive_a_table_then_reconcile_it(cli, tmp_path, pg_url):
    server, url = pg_url
    table = "python_seed.audit_logs"
    assert cli("keygen", "--out", tmp_path / "k").returncode == 0
    target = tmp_path / "arch"
    out = cli("archive", url, "--table", table, "--to", target, "--key", tmp_path / "k.key",
              "--json", "-")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["rows"] == 2000 and doc["files_written"] >= 2
    assert "password" not in out.stdout.lower() and server.password not in out.stdout
    check = cli("spot-check", target, "--public-key", tmp_path / "k.pub", "--all")
    assert check.returncode == 0, check.stdout + check.stderr
    same = cli("reconcile", url, target, "--table", table, "--json", "-")
    assert same.returncode == 0, same.stdout + same.stderr
    assert json.loads(same.stdout)["rows_a"] == 2000
    # the table changes behind the archive (the seed's trigger does not stop a superuser)
    with server.connect("aa_archive") as con:
        con.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
        victim = con.execute(f"SELECT id FROM {table} ORDER BY timestamp OFFSET 100 LIMIT 1"
                             ).fetchone()[0]
        con.execute(f"DELETE FROM {table} WHERE id = %s", (victim,))
        con.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")
    diff = cli("reconcile", url, target, "--table", table, "--json", "-")
    assert diff.returncode == 1, diff.stderr
    result = json.loads(diff.stdout)
    assert result["counts"]["missing_in_a"] == 1
    assert result["differences"][0]["id"] == str(victim)
    assert sum(d["a"] != d["b"] for d in result["days"]) == 1
    # the archive run after the deletion adds nothing: what it holds stays as written
    again = cli("archive", url, "--table", table, "--to", target, "--key",
                tmp_path / "k.key", "--json", "-")
    assert again.returncode == 0 and json.loads(again.stdout)["files_written"] == 0
