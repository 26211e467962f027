"""A chain made by a PL/pgSQL trigger in the suite's PostgreSQL, verified with a SQL profile.

The trigger hashes a delimited string (``prior || '|' || to_char(...) || ...``) with a
zero-string genesis over UUID columns; rows arrive from several connections at once.
"""

import json
import threading
import uuid

import pytest
from pgserver import start_server

pytestmark = pytest.mark.postgres

ZEROS = "0" * 64
TEXT_SQL = ("NEW.prior_hash || '|' || to_char(NEW.logged_at AT TIME ZONE 'UTC', "
            "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') || '|' || NEW.event_id::text || '|' || "
            "coalesce(NEW.user_uuid::text, '') || '|' || NEW.action")
SCHEMA = f"""
CREATE TABLE records (
    seq        bigserial PRIMARY KEY,
    event_id   uuid NOT NULL DEFAULT gen_random_uuid(),
    logged_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    user_uuid  uuid,
    action     text NOT NULL,
    outcome    text NOT NULL DEFAULT 'success',
    client_ip  inet,
    prior_hash text,
    row_hash   text
);
CREATE TABLE records_head (head text NOT NULL);
INSERT INTO records_head VALUES (repeat('0', 64));
CREATE FUNCTION records_chain() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- the head row's lock makes one writer at a time extend the chain, whatever the
    -- order in which their sequence numbers were drawn
    SELECT head INTO NEW.prior_hash FROM records_head FOR UPDATE;
    NEW.logged_at := clock_timestamp();  -- stamped in chain order, once the head is held
    NEW.row_hash := encode(sha256(convert_to({TEXT_SQL}, 'UTF8')), 'hex');
    UPDATE records_head SET head = NEW.row_hash;
    RETURN NEW;
END $$;
CREATE TRIGGER records_chain BEFORE INSERT ON records
    FOR EACH ROW EXECUTE FUNCTION records_chain();
CREATE FUNCTION records_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'records are append-only';
END $$;
CREATE TRIGGER records_immutable BEFORE UPDATE OR DELETE ON records
    FOR EACH ROW EXECUTE FUNCTION records_immutable();
"""

PROFILE = f'''
name = "records-trigger"
text = "sql"
expression = """prior_hash || '|'
    || strftime(timezone('UTC', logged_at), '%Y-%m-%dT%H:%M:%S.%gZ') || '|'
    || CAST(event_id AS VARCHAR) || '|' || coalesce(CAST(user_uuid AS VARCHAR), '')
    || '|' || action"""
genesis = "{ZEROS}"

[columns]
id = "event_id"
timestamp = "logged_at"
hash = "row_hash"
prev_hash = "prior_hash"
actor_id = "user_uuid"
result = "outcome"
ip_address = "client_ip"
'''

WRITERS, PER_WRITER = 4, 60


@pytest.fixture(scope="module")
def pg():
    server = start_server()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def trigger_db(pg, tmp_path_factory):
    url = pg.create_database("aa_trigger")
    with pg.connect("aa_trigger") as con:
        con.execute(SCHEMA)
    users = [str(uuid.UUID(int=7000 + k)) for k in range(5)]

    def writer(k: int) -> None:
        with pg.connect("aa_trigger") as con:
            for i in range(PER_WRITER):
                con.execute("INSERT INTO records (user_uuid, action, client_ip) "
                            "VALUES (%s, %s, %s)",
                            [None if i % 13 == 0 else users[(k + i) % 5],
                             ("login", "read", "export")[i % 3], f"10.0.{k}.{i}"])

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(WRITERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    folder = tmp_path_factory.mktemp("trigger")
    (folder / "records.toml").write_text(PROFILE)
    return {"url": url, "profile": folder / "records.toml", "folder": folder}


def _verify(cli, url, profile, table="records"):
    proc = cli("verify", url, "--table", table, "--profile", profile, "--json", "-")
    assert proc.returncode in (0, 1), proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def test_the_trigger_chain_verifies_and_the_checklist_reads_it(cli, trigger_db):
    code, result = _verify(cli, trigger_db["url"], trigger_db["profile"])
    assert code == 0, result["findings"][:3]
    assert result["rows"] == WRITERS * PER_WRITER and not result["findings"]
    assert [s["rows"] for s in result["segments"]] == [WRITERS * PER_WRITER]
    assert set(result["unprotected_fields"]) == {"seq", "result", "ip_address"}
    proc = cli("check", trigger_db["url"], "--table", "records", "--profile",
               trigger_db["profile"], "--json", "-")
    checks = {c["name"]: c for c in json.loads(proc.stdout)["checks"]}
    assert checks["chain_integrity"]["status"] == "pass"
    proc = cli("profile", "test", trigger_db["url"], "--table", "records", "--profile",
               trigger_db["profile"], "--rows", "2")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"text:     {ZEROS}|20" in proc.stdout


def test_profile_test_on_a_wrong_timestamp_format_says_where(cli, trigger_db, tmp_path):
    near = PROFILE.replace("%S.%gZ", "%S.%fZ")
    (tmp_path / "near.toml").write_text(near)
    proc = cli("profile", "test", trigger_db["url"], "--table", "records", "--profile",
               tmp_path / "near.toml")
    assert proc.returncode == 1
    assert "the text differs in part 3 of 9" in proc.stdout
    assert "milliseconds and Z" in proc.stdout


def test_tampering_with_the_trigger_chain(cli, pg, trigger_db):
    with pg.connect("aa_trigger") as con:
        con.execute("CREATE TABLE tampered (LIKE records INCLUDING ALL)")
        con.execute("INSERT INTO tampered SELECT * FROM records")
        con.execute("CREATE TRIGGER tampered_immutable BEFORE UPDATE OR DELETE ON tampered "
                    "FOR EACH ROW EXECUTE FUNCTION records_immutable()")
        rows = con.execute("SELECT seq, event_id::text, row_hash, prior_hash FROM tampered "
                           "ORDER BY seq").fetchall()
        by_prior = {r[3]: r for r in rows}
        altered, deleted, forged = rows[40], rows[120], rows[170]
        with pytest.raises(Exception, match="append-only"):  # refused while the trigger runs
            con.execute("UPDATE tampered SET action = 'grant' WHERE seq = %s", [altered[0]])
        con.execute("ALTER TABLE tampered DISABLE TRIGGER tampered_immutable")
        con.execute("UPDATE tampered SET action = 'grant-admin' WHERE seq = %s", [altered[0]])
        con.execute("DELETE FROM tampered WHERE seq = %s", [deleted[0]])
        text = TEXT_SQL.replace("NEW.", "")
        # a value no writer used (a row may already hold NULL: forging it to NULL would
        # change nothing)
        con.execute("UPDATE tampered SET user_uuid = '00000000-0000-0000-0000-0000deadbeef' "
                    "WHERE seq = %s", [forged[0]])
        con.execute(f"UPDATE tampered SET row_hash = encode(sha256(convert_to({text}, 'UTF8')), "
                    f"'hex') WHERE seq = %s", [forged[0]])
    code, result = _verify(cli, trigger_db["url"], trigger_db["profile"], table="tampered")
    assert code == 1
    found = sorted((f["kind"], f["id"]) for f in result["findings"])
    assert found == sorted([
        ("hash_mismatch", altered[1]),
        ("missing_predecessor", by_prior[deleted[2]][1]),  # the row after the deleted one
        ("missing_predecessor", by_prior[forged[2]][1]),  # the forged row's successor
    ])
    assert len(result["segments"]) == 3


def test_a_time_window_filters_on_the_mapped_timestamp(cli, pg, trigger_db):
    with pg.connect("aa_trigger") as con:
        middle = con.execute("SELECT logged_at FROM records ORDER BY logged_at "
                             "OFFSET 100 LIMIT 1").fetchone()[0]
    proc = cli("verify", trigger_db["url"], "--table", "records", "--profile",
               trigger_db["profile"], "--since", middle.isoformat(), "--json", "-")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(proc.stdout)
    assert result["rows"] == WRITERS * PER_WRITER - 100 and not result["findings"]
    assert [s["starts_with"] for s in result["segments"]] == ["window_start"]
