"""What a profile's SQL expression may call: an allow-list checked against DuckDB's catalog.

Every function of DuckDB's catalog that is not on the allow-list is refused, whatever a
later release adds; every allow-listed name is a scalar function (or a built-in macro over
allow-listed names) that DuckDB marks neither volatile nor side-effecting.
"""

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import audit_analytics as aa
from audit_analytics._engine import Engine
from audit_analytics.chain.expressions import check_expression
from audit_analytics.chain.functions import ALLOWED_FUNCTIONS, ZONED
from audit_analytics.errors import ProfileError

ZONED_TYPES = ("TIMESTAMP WITH TIME ZONE", "TIMESTAMPTZ_NS", "TIME WITH TIME ZONE")


@pytest.fixture(scope="module")
def catalog() -> dict[str, list[dict]]:
    engine = Engine()
    try:
        rows = engine.arrow("SELECT lower(function_name) AS name, function_type, stability, "
                            "has_side_effects, parameter_types, macro_definition "
                            "FROM duckdb_functions()").to_pylist()
    finally:
        engine.close()
    out: dict[str, list[dict]] = {}
    for row in rows:
        out.setdefault(row["name"], []).append(row)
    return out


def _call(name: str) -> str:
    return '"' + name.replace('"', '""') + '"(action)'


def test_every_function_not_on_the_list_is_refused(catalog):
    refused = sorted(set(catalog) - ALLOWED_FUNCTIONS)
    assert len(refused) > 300  # table functions, aggregates, windows, pragmas, the rest
    for name in refused:
        with pytest.raises(ProfileError) as caught:
            check_expression(_call(name), "p")
        message = str(caught.value)
        assert "\n" not in message and f"{name}()" in message, (name, message)


def test_every_allowed_function_is_a_pure_scalar_of_the_catalog(catalog):
    for name in sorted(ALLOWED_FUNCTIONS):
        assert name in catalog, name
        for overload in catalog[name]:
            assert overload["function_type"] in ("scalar", "macro"), (name, overload)
            assert not overload["has_side_effects"], name
            stability = overload["stability"]
            if overload["function_type"] == "macro":
                # a built-in macro: its definition calls allow-listed names only
                check_expression(overload["macro_definition"], "p")
                continue
            assert stability in ("CONSISTENT", "CONSISTENT_WITHIN_QUERY"), (name, stability)
            if stability == "CONSISTENT_WITHIN_QUERY":
                # depends on the session's time zone (fixed to UTC), nothing else
                assert name in ZONED, (name, overload["parameter_types"])
                assert any(t in ZONED_TYPES for t in overload["parameter_types"]) or (
                    name == "timezone"), (name, overload["parameter_types"])
    assert ZONED <= ALLOWED_FUNCTIONS


@pytest.mark.parametrize("expression, named", [
    ("uuidv4()", "uuidv4()"),
    ("uuidv7()", "uuidv7()"),
    ("CAST(uuid() AS VARCHAR)", "uuid()"),
    ("strftime(now(), '%Y')", "now()"),
    ("current_query()", "current_query()"),
    ("write_log('x') || action", "write_log()"),
    ("getvariable('x')", "getvariable()"),
    ("CAST(setval('s', 1) AS VARCHAR)", "setval()"),
    ("current_setting('threads')", "current_setting()"),
    ("CAST(random() AS VARCHAR)", "random()"),
    ("string_agg(action, ',')", "string_agg()"),
    ("read_text('/etc/passwd')", "read_text()"),
    ("CAST(hash(action) AS VARCHAR)", "hash()"),  # DuckDB's hash may change across releases
    ("main.lower(action)", "main.lower()"),
    ("system.main.upper(action)", "system.main.upper()"),
    ("action || current_date", "current_date"),
    ("action || CURRENT_TIMESTAMP", "current_timestamp"),
    ("action || current_user", "current_user"),
    ("action || #1", "a positional reference"),
    ("list_transform([action], x -> x)[1]", "a lambda"),
    ("row_number() OVER ()", "a window function"),
    ("(SELECT max(action) FROM raw)", "a subquery"),
    ("action || $1", "a parameter"),
])
def test_impure_or_reaching_expressions_are_refused(cli, tmp_path, expression, named):
    path = tmp_path / "log.parquet"
    pq.write_table(pa.table({"id": ["a"], "action": ["x"], "prev_hash": ["GENESIS"],
                             "hash": ["0" * 64]}), path)
    profile = tmp_path / "p.toml"
    profile.write_text(f'name = "p"\ntext = "sql"\nexpression = {json.dumps(expression)}\n')
    for command in (("verify",), ("profile", "test")):
        done = cli(*command, path, "--profile", profile)
        assert done.returncode == 2, done.stdout + done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and named in lines[0].lower(), done.stderr
    with aa.open(path) as log, pytest.raises(ProfileError, match="p"):
        log.verify(profile=str(profile))


@pytest.mark.parametrize("expression", [
    "prior_hash || '|' || strftime(timezone('UTC', logged_at), '%Y-%m-%dT%H:%M:%S.%gZ')",
    "coalesce(prev_hash, '') || ':' || id",
    "ifnull(prev_hash, '') || lower(action) || upper(action)",
    "parent || CAST(epoch_ms(logged) AS VARCHAR) || ev",
    "concat_ws('|', prev_hash, id, CAST(logged AT TIME ZONE 'UTC' AS VARCHAR))",
    "CASE WHEN action LIKE 'log%' THEN sha256(action) ELSE md5(action) END",
    "json_extract_string(meta, '$.user') || (meta ->> '$.k') || to_json({'a': action})",
    "printf('%s|%d', action, CAST(seq AS BIGINT) % 7) || format('{}', -seq)",
    "regexp_replace(action, '[^a-z]', '', 'g') || split_part(action, ',', 1)",
    "lpad(CAST(EXTRACT(year FROM logged) AS VARCHAR), 4, '0') || [action, id][1]",
    "CAST(logged + INTERVAL 1 DAY AS VARCHAR) || if(seq BETWEEN 1 AND 2, 'a', 'b')",
    "nullif(action, '') || TRY_CAST(seq AS VARCHAR) || (action IS NULL)::VARCHAR",
    "to_base64(encode(action)) || hex(seq) || CAST(action IN ('a', 'b') AS VARCHAR)",
    "s.f || (s).f || struct_extract(s, 'f')",
])
def test_pure_expressions_are_accepted(expression):
    check_expression(expression, "p")


def test_a_struct_field_reads_its_column():
    assert check_expression("action || s.f || (s).g", "p") == ("action", "s")


def test_a_profile_is_refused_when_it_is_loaded(tmp_path):
    path = tmp_path / "p.toml"
    path.write_text('name = "p"\ntext = "sql"\nexpression = "action || uuidv7()"\n')
    with pytest.raises(ProfileError, match=r"uuidv7\(\)"):
        aa.load_profile(path)
    with pytest.raises(ProfileError, match=r"now\(\)"):
        aa.HashProfile(name="q", text="sql", expression="strftime(now(), '%Y')")


def test_auto_skips_a_profile_file_that_calls_a_refused_function(cli, tmp_path, samples):
    home = tmp_path / "home"
    (home / "profiles").mkdir(parents=True)
    (home / "profiles" / "bad.toml").write_text(
        'name = "bad"\ntext = "sql"\nexpression = "current_query()"\n')
    done = cli("verify", samples / "python_seed" / "clean.parquet",
               env={"AUDIT_ANALYTICS_HOME": str(home)})
    assert done.returncode == 0, done.stderr
    assert "skipping profile" in done.stderr and "current_query()" in done.stderr
