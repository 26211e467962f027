"""One canonical identity per source, whatever it was called, never holding a credential."""

import os
from pathlib import Path

import pytest

from audit_analytics.sources import open_source, source_identity
from audit_analytics.sources.identity import SourceIdentity

SAMPLES = Path(__file__).resolve().parent.parent / "data_samples"
SECRET, USER = "S3cr3t-Passw0rd", "alice-the-user"


def key(spec, **kw) -> str:
    return source_identity(spec, **kw).key


def same(*specs):
    keys = {key(s) for s in specs}
    assert len(keys) == 1, keys
    return keys.pop()


@pytest.fixture
def tree(tmp_path, monkeypatch):
    """``data/clean.parquet`` (a copy of the sample), a link to it, a link to the folder."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "clean.parquet").write_bytes((SAMPLES / "python_seed" / "clean.parquet").read_bytes())
    (data / "other.parquet").write_bytes(b"")
    (tmp_path / "link.parquet").symlink_to(data / "clean.parquet")
    (tmp_path / "folder-link").symlink_to(data)
    monkeypatch.chdir(data)
    return tmp_path


def test_every_spelling_of_a_local_file_is_one_identity(tree):
    data = tree / "data"
    absolute = str(data / "clean.parquet")
    found = same("./clean.parquet", "clean.parquet", absolute, "/" + absolute,
                 absolute.replace("/", "//"), f"file://{absolute}",
                 f"file://localhost{absolute}", f"file://{absolute.replace('/', '//')}",
                 "../data/./clean.parquet", str(tree / "link.parquet"),
                 str(tree / "folder-link" / "clean.parquet"), Path("clean.parquet"))
    assert found == absolute and not found.startswith("//")
    assert source_identity(absolute) == SourceIdentity("local", absolute, absolute)
    assert key("other.parquet") != found
    assert key(tree / "data" / "elsewhere" / ".." / "clean.parquet") == found


def test_a_folder_is_its_resolved_path_and_a_glob_its_resolved_pattern(tree):
    data = str(tree / "data")
    folder = same(".", "./", data, data + "/", data + "//", str(tree / "folder-link"))
    assert folder == data
    glob = same("*.parquet", "./*.parquet", data + "//*.parquet",
                str(tree / "folder-link" / "*.parquet"))
    assert glob == data + "/*.parquet"
    assert len({folder, glob, key(data + "/clean*.parquet"), key("clean.parquet")}) == 4


def test_a_source_object_has_the_identity_of_what_it_reads(tree):
    absolute = str(tree / "data" / "clean.parquet")
    assert open_source("./clean.parquet").identity.key == absolute
    assert open_source(str(tree / "link.parquet")).identity.key == absolute


def test_s3_locations_are_normalised_without_credentials():
    found = same("s3://audit/2024/01", "s3://audit//2024//01//", "S3://audit/2024/01/",
                 f"s3://{USER}:{SECRET}@audit/2024/01", "s3://audit/2024/01/")
    assert found == "s3://audit/2024/01"
    assert same("s3://audit", "s3://audit/", "s3://audit//") == "s3://audit"
    assert len({found, key("s3://audit/2024/02"), key("s3://audit/2024/01/x.parquet"),
                key("s3://other/2024/01"), key("s3://audit/2024/01/*.parquet")}) == 5
    assert key("s3://audit/Logs") != key("s3://audit/logs")  # keys are case-sensitive
    # " table " is part of an object key, never a table of a location
    assert key("s3://audit/a table b") == "s3://audit/a table b"


def test_postgresql_urls_are_host_port_database_schema_table():
    found = same(f"postgresql://{USER}:{SECRET}@DB.example:5432/prod",
                 "postgresql://db.example/prod", "postgres://db.example/prod?sslmode=require",
                 f"postgresql+psycopg://{USER}@db.example:5432/prod",
                 "postgresql://app:***@db.example/prod table audit_logs",
                 "postgresql://db.example/prod table public.audit_logs",
                 "postgresql://db.example/prod table PUBLIC.Audit_Logs")
    assert found == "postgresql://db.example:5432/prod table public.audit_logs"
    assert key("postgresql://db.example/prod", table="public.audit_logs") == found
    assert key("postgresql://db.example/prod", table="audit.audit_logs") == (
        "postgresql://db.example:5432/prod table audit.audit_logs")
    assert key("postgresql:///prod") == "postgresql://localhost:5432/prod table public.audit_logs"
    assert key("postgresql:///prod?host=/run/PG") == (
        "postgresql:///run/PG:5432/prod table public.audit_logs")
    assert key("postgresql://[::1]/prod") == "postgresql://[::1]:5432/prod table public.audit_logs"
    others = [key(u) for u in ("postgresql://db.example:5433/prod", "postgresql://db2/prod",
                               "postgresql://db.example/staging",
                               "postgresql://db.example/prod table events",
                               "postgresql://db.example/prod table audit.audit_logs")]
    assert len({found, *others}) == 6
    # a quoted mixed-case name stays itself, quoted in the key
    assert key("postgresql://db.example/prod", table='"Audit"."Logs"') == (
        'postgresql://db.example:5432/prod table "Audit"."Logs"')


def test_postgres_source_objects_take_their_own_url_and_table():
    from audit_analytics.sources.postgres import PostgresSource

    source = PostgresSource(f"postgresql://{USER}:{SECRET}@DB.example/prod",
                            table="Audit.Logs")
    assert source.identity.key == "postgresql://db.example:5432/prod table audit.logs"
    quoted = PostgresSource("postgresql://db.example/prod", table='"Audit"."Logs"')
    assert quoted.identity.key == 'postgresql://db.example:5432/prod table "Audit"."Logs"'


def test_other_sqlalchemy_urls_and_sqlite_files(tmp_path, monkeypatch):
    found = same(f"mysql+pymysql://{USER}:{SECRET}@DB/app", "mysql://db:3306/app",
                 "mysql://db/app table audit_logs")
    assert found == "mysql://db:3306/app table audit_logs"
    assert key("mysql://db/app", table="events") != found
    assert key("mssql+pyodbc://db/app") == "mssql://db:1433/app table audit_logs"
    db = tmp_path / "audit.db"
    db.write_bytes(b"")
    monkeypatch.chdir(tmp_path)
    sqlite = same("sqlite:///audit.db", f"sqlite:///{db}", "sqlite:///./sub/../audit.db",
                  f"sqlite:///{db} table audit_logs")
    assert sqlite == f"sqlite:///{db} table audit_logs"
    assert key("sqlite:///other.db") != sqlite
    from audit_analytics.sources.database import DatabaseSource

    assert DatabaseSource("sqlite:///audit.db").identity.key == sqlite


def test_duckdb_files_are_their_resolved_path_and_table(tmp_path, monkeypatch):
    import duckdb

    path = tmp_path / "store.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE events AS SELECT 1 AS id")
    con.close()
    monkeypatch.chdir(tmp_path)
    found = same("store.duckdb", "./store.duckdb", f"{tmp_path}//store.duckdb",
                 f"{path} table events", f"{path} table Events")
    assert found == f"{path} table events"
    assert key("store.duckdb", table="other") == f"{path} table other"
    assert open_source("./store.duckdb").identity.key == found


def test_a_cloudtrail_tree_is_its_resolved_root(tmp_path, monkeypatch):
    import datetime as dt

    import cloudtrail_tree as ct

    start = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    signer = ct.new_key(start - dt.timedelta(days=1), start + dt.timedelta(days=2))
    ct.build_trail(start, 2, [signer]).write(tmp_path / "trail")
    (tmp_path / "trail-link").symlink_to(tmp_path / "trail")
    monkeypatch.chdir(tmp_path)
    root = same("trail", "./trail/", f"{tmp_path}//trail", str(tmp_path / "trail-link"),
                f"file://{tmp_path}/trail")
    assert root == str(tmp_path / "trail")
    assert open_source("./trail-link/").identity.key == root


HOSTILE = [
    f"postgresql://{USER}:{SECRET}@db/prod",
    f"postgresql://{USER}:{SECRET}@@db/prod",
    f"postgresql://{USER}:p@{SECRET}@db/prod",
    f"postgresql://{USER}:{SECRET}@db:notaport/prod",
    f"postgresql://{USER}:{SECRET}@[::1/prod",
    f"postgresql://db/prod?user={USER}&password={SECRET}",
    f"mysql+pymysql://{USER}:{SECRET}@db/app",
    f"s3://{USER}:{SECRET}@bucket/prefix",
    f"file://{USER}:{SECRET}@host/x.parquet",
    f"host=db user={USER} password={SECRET} dbname=app",
    f"/data/password={SECRET}/clean.parquet",
    f"/data/x://{USER}:{SECRET}@x/clean.parquet",
    f"sqlite:////data/password={SECRET}.db",
    f"/data/password={SECRET}/x.duckdb table events",
    "",
    "\x00\x1b[31m" + "A" * 100_000,
]


@pytest.mark.parametrize("spec", HOSTILE, ids=range(len(HOSTILE)))
def test_no_credential_ever_in_the_key_or_display(spec):
    found = source_identity(spec)
    for text in (found.key, found.display, str(found)):
        assert SECRET not in text and USER not in text
        assert SECRET.lower() not in text.lower()
    assert found == source_identity(spec)  # the same text: the same identity


def test_the_identity_does_not_depend_on_the_process_secrets(monkeypatch):
    path = "/srv/audit-secret-folder/clean.parquet"
    before = key(path)
    monkeypatch.setenv("PGPASSWORD", "audit-secret-folder")
    assert key(path) == before == path


def test_unreadable_text_gets_an_opaque_identity_never_an_error():
    for spec in ("", "a\x00b", "postgresql://h:notaport/db", "file://elsewhere/x"):
        found = source_identity(spec)
        assert found.kind == "unparsed" and found.key.startswith("unparsed:")
    assert key("a\x00b") != key("a\x00c")


def test_a_relative_path_resolves_against_the_working_directory(tmp_path, monkeypatch):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    monkeypatch.chdir(tmp_path / "a")
    first = key("clean.parquet")
    monkeypatch.chdir(tmp_path / "b")
    assert key("clean.parquet") != first
    assert os.path.dirname(first) == str(tmp_path / "a")
