"""The public face of the package is deliberate: this test locks it."""

import audit_analytics


def test_public_names_are_locked():
    assert sorted(audit_analytics.__all__) == sorted([
        "BUILTIN_PROFILES", "FINDING_KINDS", "Anchor", "AnchorError", "AuditAnalyticsError",
        "AuditLog", "ConnectionFailed", "HashProfile", "LedgerError", "OutputError",
        "PeriodError", "PolicyError", "ProfileError", "SchemaError", "SourceError",
        "VerifyResult", "__version__", "kernel_info", "load_anchors", "load_profile", "open",
    ])
    for name in audit_analytics.__all__:
        assert hasattr(audit_analytics, name), name


def test_errors_share_one_base_and_pickle():
    import pickle

    err = audit_analytics.SchemaError("x lacks y", source="s.parquet", column="y")
    assert isinstance(err, audit_analytics.AuditAnalyticsError)
    again = pickle.loads(pickle.dumps(err))
    assert (str(again), again.column, again.source) == ("x lacks y", "y", "s.parquet")
    assert again.exit_code == 2
