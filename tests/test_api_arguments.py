"""Bad arguments to the public API raise the package's own errors, in one line.

Every entry point of ``audit_analytics.__all__`` given a wrong type, an empty string, a
negative number, ``None`` where a value is needed or an unknown name raises an
:class:`~audit_analytics.AuditAnalyticsError` (a :class:`~audit_analytics.UsageError` for
an argument it cannot take), never ``AttributeError``, ``TypeError`` or a bare
``ValueError`` from deep inside.
"""

import datetime as dt
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import audit_analytics as aa

CLEAN = Path(__file__).resolve().parent.parent / "data_samples" / "python_seed" / "clean.parquet"
NEAR_FIXTURES = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def log(tmp_path_factory):
    with aa.open(CLEAN, journal=False) as opened:
        yield opened


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    folder = tmp_path_factory.mktemp("archive")
    _, public, _ = aa.generate_keys(folder / "k")
    aa.archive_source(str(CLEAN), str(folder / "arch"), str(folder / "k.key"),
                      since="2024-01-15", until="2024-01-16")
    return folder / "arch", public


def _one_line(error: BaseException) -> str:
    message = str(error)
    assert message and "\n" not in message, message
    return message


def _raises(call, kind=aa.AuditAnalyticsError) -> str:
    with pytest.raises(aa.AuditAnalyticsError) as caught:
        call()
    assert isinstance(caught.value, kind), (type(caught.value), caught.value)
    return _one_line(caught.value)


# --- the two that started it ----------------------------------------------------------
@pytest.mark.parametrize("query", ["", "   ", "-- only a comment", "/* c */ ;", ";"])
def test_blank_sql_is_a_query_error(log, query):
    for run in (log.sql, log.arrow):
        assert "no SQL statement" in _raises(lambda run=run: run(query), aa.QueryError)


@pytest.mark.parametrize("workers", [0, -1, 1.5, "2", True, [2]])
def test_verify_workers_out_of_range_is_a_usage_error(log, workers):
    message = _raises(lambda: log.verify(workers=workers), aa.UsageError)
    assert "workers" in message
    assert isinstance(aa.UsageError("x"), ValueError)  # still what ValueError catches


# --- every entry point, bad arguments -------------------------------------------------
def _calls(log, tmp: Path, archive):
    arch, public = archive
    key = tmp / "nokey.key"
    return {
        # AuditLog
        "sql(None)": lambda: log.sql(None),
        "sql(1)": lambda: log.sql(1),
        "sql(params=1)": lambda: log.sql("SELECT ?", 1),
        "named_query(params=1)": lambda: log.named_query("x", "SELECT 1", 1),
        "named_query(name='')": lambda: log.named_query("", "SELECT 1", {}),
        "named_query(query='')": lambda: log.named_query("x", "", {}),
        "verify(runner=object())": lambda: log.verify(runner=object()),
        "verify(runner and scheduler)": lambda: log.verify(runner=aa.ProcessPoolRunner(1),
                                                           scheduler="tcp://127.0.0.1:1"),
        "verify(profile=None)": lambda: log.verify(profile=None),
        "verify(profile=1)": lambda: log.verify(profile=1),
        "verify(anchors=1)": lambda: log.verify(anchors=1),
        "verify(anchors=[1])": lambda: log.verify(anchors=[1]),
        "verify(anchors=['x'])": lambda: log.verify(anchors=["x"]),
        "verify(scheduler='')": lambda: log.verify(scheduler=""),
        "verify(scheduler=1)": lambda: log.verify(scheduler=1),
        "verify(progress='x')": lambda: log.verify(progress="yes"),
        "probe_profile(rows='a')": lambda: log.probe_profile("python-seed", rows="a"),
        "probe_profile(rows=0)": lambda: log.probe_profile("python-seed", rows=0),
        "probe_profile(None)": lambda: log.probe_profile(None),
        "actor_history(None)": lambda: log.actor_history(None),
        "resource_access(resource_type=1)": lambda: log.resource_access(1),
        "failed_attempts(actor_id=[])": lambda: log.failed_attempts(actor_id=[]),
        "activity(freq=None)": lambda: log.activity(None),
        "check(nosuch=1)": lambda: log.check(nosuch=1),
        "check(only=[1])": lambda: log.check(only=[1]),
        "check(policy=1)": lambda: log.check(1),
        "relation('x')": lambda: log.relation("x"),
        "relation(None)": lambda: log.relation(None),
        # open
        "open(None)": lambda: aa.open(None),
        "open('')": lambda: aa.open(""),
        "open('  ')": lambda: aa.open("  "),
        "open(1)": lambda: aa.open(1),
        "open(table=1)": lambda: aa.open(CLEAN, table=1),
        "open(table='')": lambda: aa.open(CLEAN, table=""),
        "open(engine='x')": lambda: aa.open(CLEAN, engine="x"),
        "open(journal='x')": lambda: aa.open(CLEAN, journal="x"),
        "open(progress='x')": lambda: aa.open(CLEAN, progress="x"),
        "open(nosuch=1)": lambda: aa.open(CLEAN, nosuch=1),
        # run_checks, build_report
        "run_checks(None)": lambda: aa.run_checks(None),
        "run_checks(path)": lambda: aa.run_checks(str(CLEAN)),
        "run_checks(anchors=1)": lambda: aa.run_checks(log, anchors=1),
        "run_checks(extra_log_access=1)": lambda: aa.run_checks(log, extra_log_access=1),
        "run_checks(profile=1)": lambda: aa.run_checks(log, profile=1),
        "build_report(None)": lambda: aa.build_report(None, "2024-01"),
        "build_report(policy=1)": lambda: aa.build_report(log, "2024-01", policy=1),
        "build_report(profile=1)": lambda: aa.build_report(log, "2024-01", profile=1),
        "build_report(framework=None)": lambda: aa.build_report(log, "2024-01",
                                                                framework=None),
        "build_report(now='x')": lambda: aa.build_report(log, "2024-01", now="x"),
        "build_report(actor=1)": lambda: aa.build_report(log, "2024-01", actor=1),
        "build_report(anchors=1)": lambda: aa.build_report(log, "2024-01", anchors=1),
        # periods, profiles, anchors
        "parse_period(now='x')": lambda: aa.parse_period("last-month", now="x"),
        "load_anchors(None)": lambda: aa.load_anchors(None),
        "load_anchors(1)": lambda: aa.load_anchors(1),
        "load_profile(None)": lambda: aa.load_profile(None),
        "HashProfile(name=1)": lambda: aa.HashProfile(name=1),
        "HashProfile(name='')": lambda: aa.HashProfile(name=""),
        "HashProfile(fields=None)": lambda: aa.HashProfile(name="x", fields=None),
        "HashProfile(fields=[1])": lambda: aa.HashProfile(name="x", fields=(1, "prev_hash")),
        "HashProfile(digest=None)": lambda: aa.HashProfile(name="x", digest=None),
        "HashProfile(columns='x')": lambda: aa.HashProfile(name="x", columns="x"),
        "HashProfile(genesis=None)": lambda: aa.HashProfile(name="x", genesis=None),
        "HashProfile(item_separator=None)": lambda: aa.HashProfile(name="x",
                                                                   item_separator=None),
        "HashProfile(null_prev_is_genesis='x')": lambda: aa.HashProfile(
            name="x", null_prev_is_genesis="yes"),
        # journal and ledger
        "Journal(1)": lambda: aa.Journal(1),
        "Journal.append(None)": lambda: aa.Journal(tmp / "j").append(None, "x"),
        "Journal.append(result=x)": lambda: aa.Journal(tmp / "j").append("open", "x",
                                                                          result="maybe"),
        "Journal.append(parameters=1)": lambda: aa.Journal(tmp / "j").append(
            "open", "x", parameters=1),
        "Journal.access_rows(since=x)": lambda: aa.Journal(tmp / "j").access_rows(
            since="nope"),
        "Ledger(1)": lambda: aa.Ledger(1),
        "Ledger.record(period=None)": lambda: aa.Ledger(tmp / "l").record(
            period=None, source="x", sha256="0" * 64, version=1),
        "Ledger.record(version=-1)": lambda: aa.Ledger(tmp / "l").record(
            period=aa.parse_period("2024-01"), source="x", sha256="0" * 64, version=-1),
        "Ledger.record(sha256='x')": lambda: aa.Ledger(tmp / "l").record(
            period=aa.parse_period("2024-01"), source="x", sha256="x", version=1),
        "review_cadence(ledger=1)": lambda: aa.review_cadence(1),
        "review_cadence(until='x')": lambda: aa.review_cadence(until="x"),
        "review_cadence(grace_days=-1)": lambda: aa.review_cadence(grace_days=-1),
        # archives
        "generate_keys(None)": lambda: aa.generate_keys(None),
        "generate_keys('')": lambda: aa.generate_keys(""),
        "archive_source(key=None)": lambda: aa.archive_source(str(CLEAN), str(tmp / "a"),
                                                              None),
        "archive_source(target='')": lambda: aa.archive_source(str(CLEAN), "", str(key)),
        "archive_source(overlap=5)": lambda: aa.archive_source(str(CLEAN), str(tmp / "a"),
                                                               str(key), overlap=5),
        "archive_source(overlap<0)": lambda: aa.archive_source(
            str(CLEAN), str(tmp / "a"), str(key), overlap=dt.timedelta(minutes=-1)),
        "check_archive(None)": lambda: aa.check_archive(None),
        "check_archive('')": lambda: aa.check_archive(""),
        "check_archive(sample=-1)": lambda: aa.check_archive(str(arch), public, sample=-1),
        "check_archive(sample='x')": lambda: aa.check_archive(str(arch), public, sample="x"),
        "check_archive(seed='x')": lambda: aa.check_archive(str(arch), public, seed="x"),
        "reconcile(limit=-1)": lambda: aa.reconcile(str(CLEAN), str(CLEAN), limit=-1),
        "reconcile(limit='x')": lambda: aa.reconcile(str(CLEAN), str(CLEAN), limit="x"),
        # loads
        "load_into(target=None)": lambda: aa.load_into(str(CLEAN), None),
        "load_into(wait=-1)": lambda: aa.load_into(str(CLEAN), tmp / "x.duckdb", wait=-1),
        "load_into(overlap<0)": lambda: aa.load_into(str(CLEAN), tmp / "x.duckdb",
                                                     overlap=dt.timedelta(minutes=-5)),
        "load_into(overlap=5)": lambda: aa.load_into(str(CLEAN), tmp / "x.duckdb", overlap=5),
        "load_into(table='')": lambda: aa.load_into(str(CLEAN), tmp / "x.duckdb", table=""),
        "load_into(table=None)": lambda: aa.load_into(str(CLEAN), tmp / "x.duckdb",
                                                      table=None),
        # CloudTrail
        "validate_cloudtrail(None, None)": lambda: aa.validate_cloudtrail(None, None),
        "validate_cloudtrail(keys=1)": lambda: aa.validate_cloudtrail(str(tmp), 1),
        "fetch_cloudtrail(None, None)": lambda: aa.fetch_cloudtrail(None, None),
        # runners, engine, display
        "ProcessPoolRunner(0)": lambda: aa.ProcessPoolRunner(0),
        "ProcessPoolRunner('x')": lambda: aa.ProcessPoolRunner("x"),
        "DaskRunner('')": lambda: aa.DaskRunner(""),
        "DaskRunner(None)": lambda: aa.DaskRunner(None),
        "DaskRunner(timeout=-1)": lambda: aa.DaskRunner("tcp://127.0.0.1:1", timeout=-1),
        "Policy(settings=1)": lambda: aa.Policy(1),
        "Engine(threads=-1)": lambda: aa.Engine(threads=-1),
        "Engine(threads='x')": lambda: aa.Engine(threads="x"),
        "display_frame(None)": lambda: aa.display_frame(None),
        "shown(limit=-1)": lambda: aa.shown("x", limit=-1),
    }


CALLS = sorted(_calls(None, Path("."), (Path("."), Path("."))))


@pytest.mark.parametrize("label", CALLS)
def test_bad_arguments_raise_the_package_error(log, tmp_path, archive, monkeypatch, label):
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)  # generate_keys("") must not write ".key" here
    call = _calls(log, tmp_path, archive)[label]
    _raises(call)
    assert not list(work.iterdir())


# --- results and their methods ---------------------------------------------------------
@pytest.fixture(scope="module")
def results(log):
    return {"report": aa.build_report(log, "2024-01"), "verified": log.verify(),
            "checked": log.check(only="required_fields")}


RESULT_CALLS = {
    "Report.write(formats=None)": lambda r, t: r["report"].write(t / "a", formats=None,
                                                                 ledger=False),
    "Report.write(formats=[1])": lambda r, t: r["report"].write(t / "b", formats=[1],
                                                               ledger=False),
    "Report.write(out_dir=None)": lambda r, t: r["report"].write(None, ledger=False),
    "Report.write(out_dir='')": lambda r, t: r["report"].write("", ledger=False),
    "Report.write(replace='x')": lambda r, t: r["report"].write(t / "c", replace="x",
                                                                ledger=False),
    "Report.write(home=1)": lambda r, t: r["report"].write(t / "d", home=1),
    "VerifyResult.summary(limit=-1)": lambda r, t: r["verified"].summary(limit=-1),
    "VerifyResult.summary(limit='x')": lambda r, t: r["verified"].summary(limit="x"),
    "ChecklistResult.summary(limit='x')": lambda r, t: r["checked"].summary(limit="x"),
    "Ledger.verify(check_files='x')": lambda r, t: aa.Ledger(t / "l").verify(check_files="x"),
    "Policy.load(1)": lambda r, t: aa.Policy.load(1),
    "Policy.from_dict(None)": lambda r, t: aa.Policy.from_dict(None),
    "Engine.rows('')": lambda r, t: aa.Engine().rows(""),
    "Engine.columns('-- c')": lambda r, t: aa.Engine().columns("-- c"),
}


@pytest.mark.parametrize("label", sorted(RESULT_CALLS))
def test_bad_arguments_to_results_raise_the_package_error(results, tmp_path, label):
    _raises(lambda: RESULT_CALLS[label](results, tmp_path))
    assert not list(tmp_path.iterdir())  # nothing written


def test_only_takes_one_check_name(results):
    assert [c.name for c in results["checked"].checks] == ["required_fields"]


# --- property-based: whatever the argument, a result or the package's error ------------
ANYTHING = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True)
            | st.text(max_size=40) | st.binary(max_size=8) | st.lists(st.integers(), max_size=3)
            | st.dictionaries(st.text(max_size=4), st.integers(), max_size=2))
SQLISH = (st.text(max_size=60) | st.sampled_from(["", " ", "--", "/**/", ";", "SELECT",
                                                  "SELECT 1", "SELECT count(*) FROM events",
                                                  "SELEC nope"]))


def _package_error_or_result(call):
    try:
        call()
    except aa.AuditAnalyticsError as exc:
        _one_line(exc)


@NEAR_FIXTURES
@given(query=SQLISH | ANYTHING)
def test_sql_takes_any_text(log, query):
    _package_error_or_result(lambda: log.sql(query))


@NEAR_FIXTURES
@given(workers=ANYTHING, profile=ANYTHING | st.sampled_from(["auto", "python-seed", ""]))
def test_verify_takes_any_workers_and_profile(log, workers, profile):
    _package_error_or_result(lambda: log.verify(profile=profile, workers=workers))


@NEAR_FIXTURES
@given(text=ANYTHING | st.sampled_from(["2024-01", "2024-W03", "last-month", "2024-13"]),
       tz=ANYTHING | st.sampled_from(["UTC", "Europe/Berlin", "Nowhere/X"]),
       now=ANYTHING | st.datetimes(timezones=st.just(dt.UTC)))
def test_parse_period_takes_anything(text, tz, now):
    _package_error_or_result(lambda: aa.parse_period(text, tz=tz, now=now))


@NEAR_FIXTURES
@given(since=ANYTHING | st.sampled_from(["2024-01-15", "2024-01-15T10:00:00Z"]),
       until=ANYTHING, only=ANYTHING | st.sampled_from([["required_fields"], ("volume_spike",)]),
       policy=ANYTHING | st.sampled_from(["hipaa", "soc2"]))
def test_run_checks_takes_any_window(log, since, until, only, policy):
    _package_error_or_result(lambda: aa.run_checks(log, policy=policy, since=since,
                                                   until=until, only=only))


@NEAR_FIXTURES
@given(spec=ANYTHING | st.sampled_from(["python-seed", "node-seed", "auto"]))
def test_load_profile_takes_anything(spec):
    _package_error_or_result(lambda: aa.load_profile(spec))
