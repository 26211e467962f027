"""The public face of the package is deliberate: this test locks it."""

import audit_analytics


def test_public_names_are_locked():
    assert sorted(audit_analytics.__all__) == sorted([
        "BUILTIN_PROFILES", "FINDING_KINDS", "Anchor", "AnchorError", "AuditAnalyticsError",
        "AuditLog", "CheckResult", "ChecklistResult", "ConnectionFailed", "Engine",
        "HashProfile", "Journal", "Ledger", "LedgerError", "LoadResult", "OutputError",
        "Period", "PeriodError", "Policy", "PolicyError", "ProfileError", "QueryError",
        "Report", "SchemaError", "SourceError", "VerifyResult", "__version__",
        "build_report", "display_frame", "kernel_info", "load_anchors", "load_into",
        "load_profile", "open",
        "parse_period", "plot_style", "review_cadence", "run_checks", "shown",
        "ValidationResult", "fetch_cloudtrail", "validate_cloudtrail",
        # where the map of verification runs: a local pool, a Dask cluster
        "ClusterError", "DaskRunner", "ProcessPoolRunner",
        # signed archives: keygen, archive, spot-check / verify DIR, reconcile
        "ArchiveError", "generate_keys", "ArchiveResult", "archive_source", "ArchiveCheck",
        "check_archive", "ReconcileResult", "reconcile",
        # a call with an argument it cannot take
        "UsageError",
    ])
    for name in audit_analytics.__all__:
        assert hasattr(audit_analytics, name), name
    assert set(audit_analytics.__all__) <= set(dir(audit_analytics))


def test_public_names_are_the_objects_of_their_modules():
    from audit_analytics._engine import Engine
    from audit_analytics.archive.keys import generate_keys
    from audit_analytics.archive.reconcile import ReconcileResult, reconcile
    from audit_analytics.archive.spotcheck import ArchiveCheck, check_archive
    from audit_analytics.archive.writer import ArchiveResult, archive_source
    from audit_analytics.checks import ChecklistResult, CheckResult, run_checks
    from audit_analytics.cloudtrail.api import fetch_cloudtrail, validate_cloudtrail
    from audit_analytics.cloudtrail.results import ValidationResult
    from audit_analytics.errors import ArchiveError
    from audit_analytics.load import LoadResult, load_into
    from audit_analytics.periods import Period, parse_period
    from audit_analytics.policy import Policy
    from audit_analytics.report import Report, build_report
    from audit_analytics.trail.cadence import review_cadence
    from audit_analytics.trail.journal import Journal
    from audit_analytics.trail.ledger import Ledger

    for obj in (Engine, ChecklistResult, CheckResult, run_checks, LoadResult, load_into,
                Period, parse_period, Policy, Report, build_report, review_cadence, Journal,
                Ledger, ValidationResult, fetch_cloudtrail, validate_cloudtrail, generate_keys,
                ArchiveResult, archive_source, ArchiveCheck, check_archive, ReconcileResult,
                reconcile, ArchiveError):
        assert getattr(audit_analytics, obj.__name__) is obj, obj.__name__


def test_importing_the_package_leaves_the_report_and_checklist_unloaded():
    import subprocess
    import sys

    code = ("import sys, audit_analytics as aa\n"
            "heavy = [m for m in ('matplotlib', 'jinja2', 'cryptography', "
            "'audit_analytics.report', 'audit_analytics.checks', "
            "'audit_analytics.archive.spotcheck') if m in sys.modules]\n"
            "assert not heavy, heavy\n"
            "aa.build_report\n"
            "assert 'audit_analytics.report' in sys.modules\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_an_unknown_name_is_an_attribute_error():
    import pytest

    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        audit_analytics.nope  # noqa: B018


def test_notebooks_and_readme_import_from_the_package_root():
    import json
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    deep = re.compile(r"from audit_analytics\.[\w.]+ import|import audit_analytics\.")
    for path in sorted((root / "notebooks").glob("*.ipynb")):
        cells = json.loads(path.read_text())["cells"]
        code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
        assert not deep.search(code), path.name
        assert "from audit_analytics import" not in code, path.name
    readme = (root / "README.md").read_text()
    python = "\n".join(re.findall(r"```python\n(.*?)```", readme, re.S))
    assert python and not deep.search(python)


def test_errors_share_one_base_and_pickle():
    import pickle

    err = audit_analytics.SchemaError("x lacks y", source="s.parquet", column="y")
    assert isinstance(err, audit_analytics.AuditAnalyticsError)
    again = pickle.loads(pickle.dumps(err))
    assert (str(again), again.column, again.source) == ("x lacks y", "y", "s.parquet")
    assert again.exit_code == 2


def test_every_error_is_exported_and_in_the_docstring_tree():
    import inspect

    from audit_analytics import errors

    classes = [name for name, obj in vars(errors).items()
               if inspect.isclass(obj) and issubclass(obj, errors.AuditAnalyticsError)]
    tree = errors.__doc__
    for name in classes:
        assert name in errors.__all__ and name in audit_analytics.__all__, name
        assert f"── {name} " in tree or name == "AuditAnalyticsError", name
    assert issubclass(audit_analytics.UsageError, ValueError)
