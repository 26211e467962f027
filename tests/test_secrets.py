"""Passwords never reach output, in any of the forms a URL can carry them."""

import pytest

from audit_analytics._secrets import mask_secrets


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


def test_cli_never_prints_a_query_string_password(cli):
    proc = cli("verify", "postgresql://app@127.0.0.1:1/prod?password=s3cr3t")
    assert proc.returncode == 2
    assert "s3cr3t" not in proc.stdout + proc.stderr
    assert "password=***" in proc.stderr
