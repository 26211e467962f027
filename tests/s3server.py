"""A throwaway S3-protocol server for the tests: moto in server mode on 127.0.0.1.

:func:`start_server` starts ``python -m moto.server`` on a free localhost port in a
subprocess, with request authentication on: the first requests (unauthenticated, as moto
allows a configured number of them) create an administrator in moto's IAM, whose access
key the tests then use, so that wrong credentials and denied access are real refusals.
:meth:`S3Server.user` makes further IAM users with the policy a test gives them (a
read-only auditor, a writer...). Nothing reaches the internet.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from pgserver import free_port

REGION = "us-east-1"
# requests moto serves before it starts checking signatures: the administrator's setup
_SETUP_REQUESTS = 3
ALLOW_ALL = {"Version": "2012-10-17",
             "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}


def read_only_policy(bucket: str) -> dict:
    """The IAM policy ``verify`` needs on a bucket: list it and read its objects."""
    return {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": f"arn:aws:s3:::{bucket}"},
        {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": f"arn:aws:s3:::{bucket}/*"},
    ]}


@dataclass
class S3Server:
    """A running moto server: its endpoint, the administrator's keys, and helpers."""

    endpoint: str
    access_key: str
    secret_key: str
    process: subprocess.Popen | None = None
    log_path: Path | None = None
    _count: int = field(default=0)

    def env(self, **extra: str) -> dict[str, str]:
        """The environment a client needs: endpoint, region and the administrator's keys."""
        return {"AWS_ENDPOINT_URL": self.endpoint, "AWS_REGION": REGION,
                "AWS_ACCESS_KEY_ID": self.access_key, "AWS_SECRET_ACCESS_KEY": self.secret_key,
                "AWS_EC2_METADATA_DISABLED": "true", **extra}

    def client(self, service: str = "s3", *, access_key: str | None = None,
               secret_key: str | None = None):
        """A boto3 client for ``service`` (the administrator unless keys are given)."""
        import boto3

        return boto3.client(service, endpoint_url=self.endpoint, region_name=REGION,
                            aws_access_key_id=access_key or self.access_key,
                            aws_secret_access_key=secret_key or self.secret_key)

    def unique(self, prefix: str) -> str:
        """A name no other test used (buckets and users live for the whole session)."""
        self._count += 1
        return f"{prefix}-{self._count}-{secrets.token_hex(3)}"

    def bucket(self, *, lock: str | None = None, days: int | None = None,
               years: int | None = None, versioning: bool = False,
               lock_enabled: bool | None = None) -> str:
        """Create a fresh bucket and return its name.

        ``lock`` (``"COMPLIANCE"`` or ``"GOVERNANCE"``) creates it with Object Lock enabled
        and a default retention of ``days`` or ``years``; ``lock_enabled=True`` without
        ``lock`` enables Object Lock with no default rule. ``versioning`` turns versioning
        on for a bucket without Object Lock (Object Lock turns it on by itself).
        """
        name = self.unique("aa")
        s3 = self.client()
        enabled = bool(lock) if lock_enabled is None else lock_enabled
        s3.create_bucket(Bucket=name, ObjectLockEnabledForBucket=enabled)
        if versioning and not enabled:
            s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        if lock:
            period = {"Days": days} if days is not None else {"Years": years or 1}
            s3.put_object_lock_configuration(Bucket=name, ObjectLockConfiguration={
                "ObjectLockEnabled": "Enabled",
                "Rule": {"DefaultRetention": {"Mode": lock, **period}}})
        return name

    def user(self, policy: dict | None) -> tuple[str, str]:
        """A new IAM user with ``policy`` inline (``None``: no permission at all); its keys."""
        iam = self.client("iam")
        name = self.unique("user")
        iam.create_user(UserName=name)
        if policy is not None:
            iam.put_user_policy(UserName=name, PolicyName="test",
                                PolicyDocument=json.dumps(policy))
        key = iam.create_access_key(UserName=name)["AccessKey"]
        return key["AccessKeyId"], key["SecretAccessKey"]

    def stop(self) -> None:
        """Stop the server this object started."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None


def _wait_for_port(port: int, process: subprocess.Popen, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"moto server exited: {log.read_text()[-500:]}")
        with socket.socket() as sock:
            sock.settimeout(0.5)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        if time.monotonic() > deadline:
            process.kill()
            raise RuntimeError("moto server did not start listening")
        time.sleep(0.1)


def start_server(timeout: float = 60.0) -> S3Server:
    """Start moto in server mode on a free 127.0.0.1 port, with an administrator user."""
    port = free_port()
    log = Path(tempfile.mkstemp(prefix="aa-moto-", suffix=".log")[1])
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(INITIAL_NO_AUTH_ACTION_COUNT=str(_SETUP_REQUESTS), AWS_ACCESS_KEY_ID="setup",
               AWS_SECRET_ACCESS_KEY="setup-secret", AWS_EC2_METADATA_DISABLED="true")
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=out, stderr=subprocess.STDOUT, env=env, stdin=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    _wait_for_port(port, process, log, timeout)
    setup = S3Server(endpoint, "setup", "setup-secret", process, log)
    try:
        iam = setup.client("iam")  # the unauthenticated requests: exactly _SETUP_REQUESTS
        iam.create_user(UserName="admin")
        iam.put_user_policy(UserName="admin", PolicyName="all",
                            PolicyDocument=json.dumps(ALLOW_ALL))
        key = iam.create_access_key(UserName="admin")["AccessKey"]
    except BaseException:
        setup.stop()
        raise
    return S3Server(endpoint, key["AccessKeyId"], key["SecretAccessKey"], process, log)
