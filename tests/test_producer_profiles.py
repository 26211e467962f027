"""Profiles for producers that are not the seed's: real producers, run by the suite.

* the seed's Express logger adapted to HMAC-SHA256 and base64, run under node;
* a service hashing a plain concatenation (epoch milliseconds + fields) with SHA-512;
* a producer that stores no link and chains rows by insertion order;
* every digest and encoding, both kernels, and ``profile test`` on a near miss.
"""

import hashlib
import hmac
import json
import shutil
import subprocess
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import audit_analytics as aa
from audit_analytics.samples.events import generate_events

HERE = Path(__file__).resolve().parent
NODE_HMAC = HERE / "producers" / "node_hmac_seed.js"
KEY = "k3y-for-the-chain-0451"
ZEROS128 = "0" * 128


# --- producers ------------------------------------------------------------------------
def concat_sha512_producer(n: int, start=datetime(2024, 3, 1, tzinfo=UTC)) -> list[dict]:
    """A service that hashes prev + epoch ms + id + actor + action, no separators."""
    rows, prev = [], ZEROS128
    for i in range(n):
        at = start + timedelta(milliseconds=1234 * i + 7)
        ev = str(uuid.UUID(int=0xABC000 + i))
        who, action = f"user-{i % 7}", ("login", "read", "update")[i % 3]
        text = f"{prev}{int(at.timestamp() * 1000)}{ev}{who}{action}"
        digest = hashlib.sha512(text.encode()).hexdigest()
        rows.append({"ev": ev, "logged": at, "who": who, "action": action,
                     "result": "success", "parent": prev, "digest": digest})
        prev = digest
    return rows


CONCAT_TOML = f'''
name = "concat-sha512"
columns = {{ id = "ev", timestamp = "logged", actor_id = "who", hash = "digest", prev_hash = "parent" }}
text = "sql"
expression = "parent || CAST(epoch_ms(logged) AS VARCHAR) || ev || who || action"
digest = "sha512"
genesis = "{ZEROS128}"
'''  # noqa: E501 - an inline TOML table is one line


def insertion_order_producer(n: int) -> list[dict]:
    """Rows without a link column: each hash covers the previous row's hash (by seq)."""
    rows, prev = [], "GENESIS"
    for i in range(n):
        body = f"{prev}|{i + 1}|actor-{i % 5}|{('create', 'delete')[i % 2]}"
        digest = hashlib.sha256(body.encode()).hexdigest()
        rows.append({"seq": i + 1, "actor_id": f"actor-{i % 5}",
                     "action": ("create", "delete")[i % 2],
                     "timestamp": datetime(2024, 5, 1, tzinfo=UTC) + timedelta(seconds=i),
                     "hash": digest})
        prev = digest
    return rows


ORDER_TOML = '''
name = "by-insertion"
columns = { id = "seq" }
text = "sql"
expression = "prev_hash || '|' || CAST(seq AS VARCHAR) || '|' || actor_id || '|' || action"
order_by = "id"
'''


def run_node_hmac(events: list[dict], key: str) -> list[dict]:
    payload = "".join(json.dumps({**e, "timestamp": e["timestamp"].isoformat()}) + "\n"
                      for e in events)
    proc = subprocess.run(["node", str(NODE_HMAC)], input=payload.encode(),
                          capture_output=True, timeout=120, check=True,
                          env={"AUDIT_CHAIN_KEY": key, "PATH": "/usr/bin:/bin"})
    return [json.loads(line) for line in proc.stdout.decode().split("\n") if line]


NODE_TOML = '''
name = "node-hmac"
based_on = "node-seed"
digest = "hmac-sha256"
encoding = "base64"
key_env = "AUDIT_CHAIN_KEY"
'''


@pytest.fixture(scope="module")
def concat(tmp_path_factory):
    folder = tmp_path_factory.mktemp("concat")
    pq.write_table(pa.Table.from_pylist(concat_sha512_producer(3000)), folder / "log.parquet")
    (folder / "concat.toml").write_text(CONCAT_TOML)
    return folder


def _write_parquet(path: Path, rows: list[dict]) -> Path:
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def _verify_json(cli, *args, env=None) -> tuple[int, dict]:
    proc = cli("verify", *args, "--json", "-", env=env)
    assert proc.returncode in (0, 1), proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def _kinds(result: dict) -> dict:
    counts: dict[str, int] = {}
    for f in result["findings"]:
        counts[f["kind"]] = counts.get(f["kind"], 0) + 1
    return counts


# --- the concatenation producer ----------------------------------------------------------
@pytest.mark.parametrize("kernel", ["native", "python"])
def test_a_concatenated_sha512_chain_verifies_on_both_kernels(cli, concat, kernel):
    code, result = _verify_json(cli, concat / "log.parquet", "--profile", concat / "concat.toml",
                                env={"AUDIT_ANALYTICS_KERNEL": kernel})
    assert code == 0 and result["rows"] == 3000 and not result["findings"]
    assert result["unprotected_fields"] == ["result"]


def test_a_tampered_concatenated_chain_names_the_rows(cli, concat, tmp_path):
    rows = concat_sha512_producer(3000)
    rows[100]["action"] = "delete"  # altered in place
    del rows[2000]  # a deleted row
    fork = {**rows[501], "ev": str(uuid.UUID(int=0xF0F0)), "action": "export"}
    fork["digest"] = hashlib.sha512(
        f"{fork['parent']}{int(fork['logged'].timestamp() * 1000)}{fork['ev']}{fork['who']}"
        f"export".encode()).hexdigest()  # a forged row with a recomputed hash
    rows.append(fork)
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "t.parquet")
    code, result = _verify_json(cli, tmp_path / "t.parquet", "--profile",
                                concat / "concat.toml")
    assert code == 1
    assert _kinds(result) == {"hash_mismatch": 1, "missing_predecessor": 1, "fork": 1}
    forks = [f for f in result["findings"] if f["kind"] == "fork"]
    assert forks[0]["id"] == rows[500]["ev"] and fork["ev"] in forks[0]["children"]
    by_kind = {f["kind"]: f for f in result["findings"]}
    assert by_kind["hash_mismatch"]["id"] == rows[100]["ev"]
    assert by_kind["hash_mismatch"]["stored_hash"] == rows[100]["digest"]
    assert len(by_kind["hash_mismatch"]["computed_hash"]) == 128
    assert by_kind["missing_predecessor"]["id"] == rows[2000]["ev"]


def _rechain(rows: list[dict], start: int) -> None:
    """Recompute the digests of rows[start:] (and their successors' parents) in place."""
    for i in range(start, len(rows)):
        r = rows[i]
        if i > start:
            r["parent"] = rows[i - 1]["digest"]
        r["digest"] = hashlib.sha512(
            f"{r['parent']}{int(r['logged'].timestamp() * 1000)}{r['ev']}{r['who']}"
            f"{r['action']}".encode()).hexdigest()


@pytest.mark.parametrize("kernel", ["native", "python"])
@pytest.mark.parametrize("shuffled", [False, True])
def test_a_link_is_confirmed_on_the_whole_of_a_long_digest(cli, concat, tmp_path, kernel,
                                                           shuffled):
    # a prev_hash that agrees with its predecessor's digest on the first 32 bytes (64 hex
    # digits) but not on the last: not a link, whatever order the rows are read in
    rows = concat_sha512_producer(3000)
    wrong = rows[1500]["parent"][:64] + "".join(
        "0" if c != "0" else "1" for c in rows[1500]["parent"][64:])
    rows[1500]["parent"] = wrong
    _rechain(rows, 1500)  # every digest recomputed, as a writer of a plain hash can
    if shuffled:
        rows = [rows[(i * 7919) % len(rows)] for i in range(len(rows))]  # out of chain order
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "t.parquet")
    code, result = _verify_json(cli, tmp_path / "t.parquet", "--profile",
                                concat / "concat.toml", env={"AUDIT_ANALYTICS_KERNEL": kernel})
    assert code == 1
    assert _kinds(result) == {"missing_predecessor": 1}
    assert result["findings"][0]["id"] == str(uuid.UUID(int=0xABC000 + 1500))


def test_the_checklist_reads_the_mapped_columns(cli, concat):
    with aa.open(concat / "log.parquet", profile=str(concat / "concat.toml")) as log:
        actors = log.sql("SELECT count(DISTINCT actor_id) AS n, min(id) AS first "
                         "FROM events").iloc[0]
        assert actors["n"] == 7 and actors["first"] == str(uuid.UUID(int=0xABC000))
    proc = cli("check", concat / "log.parquet", "--profile", concat / "concat.toml",
               "--json", "-")
    checks = {c["name"]: c for c in json.loads(proc.stdout)["checks"]}
    assert checks["chain_integrity"]["status"] == "pass", checks["chain_integrity"]
    assert checks["chain_integrity"]["metrics"]["rows"] == 3000


def test_auto_tries_the_profiles_in_the_home_folder(cli, concat, tmp_path):
    home = tmp_path / "home"
    (home / "profiles").mkdir(parents=True)
    shutil.copy(concat / "concat.toml", home / "profiles" / "concat.toml")
    env = {"AUDIT_ANALYTICS_HOME": str(home)}
    proc = cli("verify", concat / "log.parquet", env=env)
    assert proc.returncode == 0, proc.stderr
    assert "profile concat-sha512" in proc.stdout
    code, result = _verify_json(cli, concat / "log.parquet", env=env)
    assert "detected concat-sha512" in result["profile_detection"]
    # without the home profile, nothing known matches
    proc = cli("verify", concat / "log.parquet")
    assert proc.returncode == 2


def test_profile_test_shows_a_match(cli, concat):
    proc = cli("profile", "test", concat / "log.parquet", "--profile", concat / "concat.toml",
               "--rows", "3", "--json", "-")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    first = concat_sha512_producer(1)[0]
    assert out["rows"][0]["text"] == (f"{ZEROS128}{int(first['logged'].timestamp() * 1000)}"
                                      f"{first['ev']}{first['who']}{first['action']}")
    assert out["rows"][0]["stored"] == out["rows"][0]["computed"] == first["digest"]
    assert len(out["rows"]) == 3 and out["sample"]["matched"] == out["sample"]["rows"] == 512
    assert out["unused_columns"] == ["result"]


def test_profile_test_says_where_a_near_miss_differs(cli, concat, tmp_path):
    near = CONCAT_TOML.replace("CAST(epoch_ms(logged) AS VARCHAR)",
                               "strftime(logged, '%Y-%m-%dT%H:%M:%S.%fZ')")
    (tmp_path / "near.toml").write_text(near)
    proc = cli("profile", "test", concat / "log.parquet", "--profile", tmp_path / "near.toml")
    assert proc.returncode == 1, proc.stderr
    assert "NO MATCH" in proc.stdout
    assert "sample: 0 of 512 sampled rows match" in proc.stdout
    assert "the text differs in part 2 of 5" in proc.stdout
    assert "epoch milliseconds" in proc.stdout
    assert "stored hashes are lowercase hex, 128 characters (sha512 size)" in proc.stdout


def test_profile_test_says_what_the_stored_hashes_look_like(cli, concat, tmp_path):
    wrong = CONCAT_TOML.replace('digest = "sha512"', 'digest = "sha256"').replace(
        ZEROS128, "0" * 64)
    (tmp_path / "wrong.toml").write_text(wrong)
    proc = cli("profile", "test", concat / "log.parquet", "--profile", tmp_path / "wrong.toml")
    assert proc.returncode == 1
    assert "stored hashes are lowercase hex, 128 characters (sha512 size)" in proc.stdout
    assert "would be lowercase hex, 64 characters" in proc.stdout
    assert f'prev_hash "{ZEROS128}" looks like a genesis value' in proc.stdout


# --- link-less chains -----------------------------------------------------------------
def _duckdb_file(path: Path, rows: list[dict], order=None) -> Path:
    table = pa.Table.from_pylist(rows)
    con = duckdb.connect(str(path))
    con.register("t", table)
    con.execute("CREATE TABLE events AS SELECT * FROM t" +
                (f" ORDER BY {order}" if order else ""))
    con.close()
    return path


@pytest.mark.parametrize("kernel", ["native", "python"])
def test_an_insertion_order_chain_verifies_and_a_deleted_row_shows(cli, tmp_path, kernel):
    (tmp_path / "order.toml").write_text(ORDER_TOML)
    rows = insertion_order_producer(500)
    shuffled = rows[250:] + rows[:250]  # stored out of order: the order comes from seq
    _duckdb_file(tmp_path / "ok.duckdb", shuffled)
    env = {"AUDIT_ANALYTICS_KERNEL": kernel}
    code, result = _verify_json(cli, tmp_path / "ok.duckdb", "--profile", tmp_path / "order.toml",
                                env=env)
    assert code == 0 and result["rows"] == 500 and not result["findings"]
    assert result["segments"][0]["rows"] == 500
    gone = rows[:300] + rows[301:]
    _duckdb_file(tmp_path / "gone.duckdb", gone)
    code, result = _verify_json(cli, tmp_path / "gone.duckdb", "--profile",
                                tmp_path / "order.toml", env=env)
    assert code == 1
    assert [(f["kind"], f["id"]) for f in result["findings"]] == [("hash_mismatch", "302")]


def test_an_insertion_order_chain_across_parquet_files(cli, tmp_path):
    (tmp_path / "order.toml").write_text(ORDER_TOML)
    rows = insertion_order_producer(300)
    folder = tmp_path / "parts"
    folder.mkdir()
    for k in range(3):
        pq.write_table(pa.Table.from_pylist(rows[k * 100:(k + 1) * 100]),
                       folder / f"p{k}.parquet")
    code, result = _verify_json(cli, folder, "--profile", tmp_path / "order.toml")
    assert code == 0 and result["rows"] == 300 and not result["findings"]


# --- the seed's Node logger with an HMAC key and base64 --------------------------------
@pytest.fixture(scope="module")
def node_log(tmp_path_factory):
    if shutil.which("node") is None:
        pytest.skip("node is not on PATH")
    folder = tmp_path_factory.mktemp("node_hmac")
    entries = run_node_hmac(generate_events(400, seed=11), KEY)
    _write_parquet(folder / "log.parquet", entries)
    (folder / "node.toml").write_text(NODE_TOML)
    return folder, entries


def test_the_node_logger_with_hmac_and_base64(cli, node_log):
    folder, entries = node_log
    assert len(entries[0]["hash"]) == 44 and entries[0]["hash"].endswith("=")
    for kernel in ("native", "python"):
        proc = cli("verify", folder / "log.parquet", "--profile", folder / "node.toml", "--json",
                   "-", env={"AUDIT_CHAIN_KEY": KEY, "AUDIT_ANALYTICS_KERNEL": kernel})
        assert proc.returncode == 0, proc.stderr
        result = json.loads(proc.stdout)
        assert result["rows"] == 400 and not result["findings"]
        assert KEY not in proc.stdout + proc.stderr


def test_anchors_in_base64_are_confirmed_or_refuted(cli, node_log, tmp_path):
    folder, entries = node_log
    last = entries[-1]
    (tmp_path / "good.jsonl").write_text(json.dumps({"id": last["id"], "hash": last["hash"]}))
    (tmp_path / "bad.jsonl").write_text(json.dumps({"id": last["id"],
                                                    "hash": entries[-2]["hash"]}))
    env = {"AUDIT_CHAIN_KEY": KEY}
    code, result = _verify_json(cli, folder / "log.parquet", "--profile", folder / "node.toml",
                                "--anchor", tmp_path / "good.jsonl", env=env)
    assert code == 0 and [a["status"] for a in result["anchors"]] == ["confirmed"]
    code, result = _verify_json(cli, folder / "log.parquet", "--profile", folder / "node.toml",
                                "--anchor", tmp_path / "bad.jsonl", env=env)
    assert code == 1 and [a["status"] for a in result["anchors"]] == ["mismatch"]
    assert _kinds(result) == {"anchor_mismatch": 1}


def test_a_report_on_a_mapped_source(cli, concat, tmp_path):
    proc = cli("report", concat / "log.parquet", "--period", "2024-03", "--out", tmp_path,
               "--format", "json", "--profile", concat / "concat.toml")
    assert proc.returncode in (0, 1), proc.stderr
    document = next(tmp_path.rglob("*.json")).read_text()
    assert "concat-sha512" in document and "3000" in document.replace(",", "")


def test_a_wrong_hmac_key_is_a_mismatch_everywhere_and_a_missing_one_bad_input(cli, node_log,
                                                                                 tmp_path):
    folder, _ = node_log
    code, result = _verify_json(cli, folder / "log.parquet", "--profile", folder / "node.toml",
                                env={"AUDIT_CHAIN_KEY": "not-the-key"})
    assert code == 1 and _kinds(result) == {"hash_mismatch": 400}
    assert result["segments"][0]["rows"] == 400  # the links still hold: only the key is wrong
    proc = cli("verify", folder / "log.parquet", "--profile", folder / "node.toml")
    assert proc.returncode == 2
    assert proc.stderr.strip().endswith("reads its HMAC key from $AUDIT_CHAIN_KEY, which is "
                                        "not set")
    assert "Traceback" not in proc.stderr


def test_the_hmac_key_never_reaches_output_journal_or_ledger(cli, node_log, tmp_path):
    folder, _ = node_log
    home = tmp_path / "home"
    keyfile = tmp_path / "chain.key"
    keyfile.write_text(KEY + "\n")
    toml = NODE_TOML.replace('key_env = "AUDIT_CHAIN_KEY"', 'key_file = "chain.key"')
    (tmp_path / "node_file.toml").write_text(toml)
    env = {"AUDIT_ANALYTICS_HOME": str(home)}
    outputs = []
    for args in (("verify", folder / "log.parquet", "--json", "-"),
                 ("profile", "test", folder / "log.parquet", "--json", "-"),
                 ("check", folder / "log.parquet", "--json", "-"),
                 ("report", folder / "log.parquet", "--period", "2024-01",
                  "--out", tmp_path / "out", "--format", "json")):
        proc = cli(*args, "--profile", tmp_path / "node_file.toml", env=env)
        assert proc.returncode in (0, 1), proc.stderr
        outputs.append(proc.stdout + proc.stderr)
    written = "".join(p.read_text(errors="replace") for p in home.rglob("*") if p.is_file())
    written += "".join(p.read_text(errors="replace")
                       for p in (tmp_path / "out").rglob("*") if p.is_file())
    assert json.loads(outputs[0].split("\n", 0)[0])["findings"] == []
    assert "journal" in " ".join(p.name for p in home.rglob("*"))
    assert KEY not in "".join(outputs) + written


# --- every digest and encoding -------------------------------------------------------------
def _digest(name: str, key: bytes, text: bytes) -> bytes:
    if name.startswith("hmac-"):
        return hmac.digest(key, text, name[5:])
    return hashlib.new(name.replace("-", "_"), text).digest()


def _encoded(raw: bytes, encoding: str) -> str:
    import base64

    if encoding == "base64":
        return base64.b64encode(raw).decode()
    return raw.hex().upper() if encoding == "HEX" else raw.hex()


DIGESTS = ["sha256", "sha384", "sha512", "sha1", "md5", "sha3-256", "hmac-sha256",
           "hmac-sha512"]


@pytest.mark.parametrize("digest", DIGESTS)
@pytest.mark.parametrize("encoding", ["hex", "HEX", "base64"])
def test_every_digest_and_encoding(tmp_path, monkeypatch, digest, encoding):
    monkeypatch.setenv("CHAIN_KEY", KEY)
    rows, prev = [], ""
    for i in range(40):
        text = f"{prev};{i};act-{i % 3}".encode()
        h = _encoded(_digest(digest, KEY.encode(), text), encoding)
        rows.append({"id": str(i), "action": f"act-{i % 3}", "prev_hash": prev,
                     "timestamp": f"2024-01-01T00:00:{i:02d}Z", "hash": h})
        prev = h
    rows[17]["action"] = "forged"
    path = _write_parquet(tmp_path / "log.parquet", rows)
    keyed = 'key_env = "CHAIN_KEY"\n' if digest.startswith("hmac-") else ""
    (tmp_path / "p.toml").write_text(
        f'text = "sql"\nexpression = "prev_hash || \';\' || id || \';\' || action"\n'
        f'digest = "{digest}"\nencoding = "{encoding}"\ngenesis = ""\n{keyed}')
    with aa.open(path) as log:
        result = log.verify(profile=str(tmp_path / "p.toml")).to_dict()
    assert [(f["kind"], f["id"]) for f in result["findings"]] == [("hash_mismatch", "17")]
    assert [s["rows"] for s in result["segments"]] == [40]


def test_a_null_prev_hash_starts_a_chain_only_when_the_profile_says_so(tmp_path):
    rows, prev = [], None
    for i in range(10):
        h = hashlib.sha256(f"{prev or ''}:{i}".encode()).hexdigest()
        rows.append({"id": str(i), "prev_hash": prev, "hash": h,
                     "timestamp": f"2024-01-01T00:00:{i:02d}Z"})
        prev = h
    path = _write_parquet(tmp_path / "log.parquet", rows)
    base = 'text = "sql"\nexpression = "coalesce(prev_hash, \'\') || \':\' || id"\n'
    (tmp_path / "yes.toml").write_text(base + "null_prev_is_genesis = true\n")
    (tmp_path / "no.toml").write_text(base)
    with aa.open(path) as log:
        assert log.verify(profile=str(tmp_path / "yes.toml")).ok
        found = log.verify(profile=str(tmp_path / "no.toml")).to_dict()["findings"]
    kinds = {f["kind"] for f in found}
    assert kinds == {"malformed"}


# --- expressions are one scalar expression, refused with DuckDB's reason -------------------
@pytest.mark.parametrize("expression,reason", [
    ("parent ||", "syntax error"),
    ("parent || nosuch", "nosuch"),
    ("length(action)", "not text"),
    ("(SELECT 'x')", "a subquery"),
    ("nextval('s')", "nextval"),
    ("'a'); COPY (SELECT 1) TO 'x.csv'; SELECT ('b'", "one expression"),
    ("read_text('/etc/passwd')", "read_text"),
    ("string_agg(action, ',') OVER ()", "a window function"),
])
def test_an_invalid_expression_is_bad_input(cli, concat, tmp_path, expression, reason):
    toml = CONCAT_TOML.replace(
        'expression = "parent || CAST(epoch_ms(logged) AS VARCHAR) || ev || who || action"',
        f"expression = {json.dumps(expression)}")
    (tmp_path / "bad.toml").write_text(toml)
    for command in (("verify",), ("profile", "test")):
        proc = cli(*command, concat / "log.parquet", "--profile", tmp_path / "bad.toml")
        assert proc.returncode == 2, proc.stdout + proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and reason in lines[0], proc.stderr
    assert not (HERE.parent / "x.csv").exists()


@pytest.mark.parametrize("toml,reason", [
    ('digest = "sha999"', "digest must be one of"),
    ('encoding = "base32"', "encoding must be one of"),
    ('digest = "hmac-sha256"', "needs key_env or key_file"),
    ('key_env = "K"', "apply to hmac-sha256 and hmac-sha512 only"),
    ('text = "sql"', "needs an expression"),
    ('columns = { prev_hash = "p" }\norder_by = "id"', "prev_hash is not a column"),
    ('columns = { nosuch = "ev" }', "not event-schema field"),
    ('columns = { id = "nosuch" }', "nosuch"),
])
def test_an_invalid_profile_is_bad_input(cli, concat, tmp_path, toml, reason):
    (tmp_path / "bad.toml").write_text(toml + "\n")
    proc = cli("verify", concat / "log.parquet", "--profile", tmp_path / "bad.toml")
    assert proc.returncode == 2 and reason in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_a_json_lines_source_with_mapped_columns(tmp_path):
    from audit_analytics.sources.jsonlines import JsonLinesSource

    rows = concat_sha512_producer(50)
    entries = [{**{k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in r.items()},
                "__line": i + 1} for i, r in enumerate(rows)]
    entries[9]["who"] = "user-intruder"
    (tmp_path / "c.toml").write_text(CONCAT_TOML.replace(
        "CAST(epoch_ms(logged) AS VARCHAR)",
        "CAST(epoch_ms(CAST(logged AS TIMESTAMPTZ)) AS VARCHAR)"))
    source = JsonLinesSource(tmp_path / "log.jsonl", entries, list(rows[0]))
    with aa.open(source, profile=str(tmp_path / "c.toml")) as log:
        result = log.verify(profile=str(tmp_path / "c.toml")).to_dict()
        assert log.sql("SELECT actor_id FROM events WHERE id = ?",
                       [rows[9]["ev"]]).iloc[0, 0] == "user-intruder"
    assert [(f["kind"], f["id"]) for f in result["findings"]] == [("hash_mismatch",
                                                                    rows[9]["ev"])]


def test_the_row_wise_reference_writes_every_digest_and_encoding(monkeypatch):
    from audit_analytics.chain.canonical import canonical_text, row_digest

    monkeypatch.setenv("CHAIN_KEY", KEY)
    row = {"id": "e1", "timestamp": "2024-01-01T00:00:00Z", "actor_id": "a", "action": "x",
           "resource_type": "r", "resource_id": "1", "result": "success",
           "prev_hash": "GENESIS"}
    for digest in DIGESTS:
        for encoding in ("hex", "HEX", "base64"):
            keyed = {"key_env": "CHAIN_KEY"} if digest.startswith("hmac-") else {}
            profile = aa.HashProfile(name="p", digest=digest, encoding=encoding, **keyed)
            raw = _digest(digest, KEY.encode(), canonical_text(profile, row))
            assert row_digest(profile, row) == _encoded(raw, encoding)
