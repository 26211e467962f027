"""S3 configuration, the pyarrow S3 filesystem and boto3 client made from it, and S3 failures.

The configuration is the standard AWS one, read as the AWS CLI and SDKs read it:

- ``AWS_ENDPOINT_URL_S3`` or ``AWS_ENDPOINT_URL`` (an S3-compatible store such as MinIO or
  Ceph, or a test server), else ``endpoint_url`` in the profile's section of the shared
  config file;
- ``AWS_REGION`` or ``AWS_DEFAULT_REGION``, else ``region`` in the profile's section;
- ``AWS_PROFILE`` (or ``AWS_DEFAULT_PROFILE``, else ``default``) names that section of
  ``AWS_CONFIG_FILE`` (``~/.aws/config``) and of ``AWS_SHARED_CREDENTIALS_FILE``
  (``~/.aws/credentials``);
- credentials: ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY`` and ``AWS_SESSION_TOKEN``
  when set, else the profile's ``aws_access_key_id``/``aws_secret_access_key``/
  ``aws_session_token``, else the SDK's own chain (instance metadata and the like).

Secret keys and session tokens never appear in a message: every message made here goes
through :func:`~audit_analytics._secrets.mask_secrets`, which also masks the values of
``AWS_SECRET_ACCESS_KEY`` and ``AWS_SESSION_TOKEN`` wherever they appear.
"""

from __future__ import annotations

import configparser
import os
import re
from dataclasses import dataclass
from pathlib import Path

from .._secrets import mask_secrets, remember
from ..errors import AuditAnalyticsError, SourceError, first_line

__all__ = ["S3_HINT", "S3Settings", "boto3_client", "s3_failure", "s3_filesystem",
           "s3_settings"]

#: What to install for the S3 calls pyarrow cannot make (versioning, Object Lock, metadata).
S3_HINT = "pip install 'audit_analytics[s3]'"
CONNECT_TIMEOUT = 10.0  # seconds to open a connection to the endpoint
REQUEST_TIMEOUT = 60.0  # seconds a request may take
ATTEMPTS = 3            # tries of a request that fails for a transient reason


@dataclass(frozen=True)
class S3Settings:
    """Where S3 requests go and as whom, resolved from the environment and the shared files.

    ``access_key``, ``secret_key`` and ``session_token`` are ``None`` when the SDK's own
    chain is to find credentials. :meth:`describe` says where requests go without them.
    """

    endpoint: str | None = None
    region: str | None = None
    profile: str | None = None
    access_key: str | None = None
    secret_key: str | None = None
    session_token: str | None = None

    def describe(self) -> str:
        """The endpoint (or AWS) and region, for messages; never a credential."""
        where = self.endpoint or "AWS"
        return f"{where} (region {self.region})" if self.region else where

    def __repr__(self) -> str:  # a settings object printed in a notebook shows no secret
        return (f"S3Settings(endpoint={self.endpoint!r}, region={self.region!r}, "
                f"profile={self.profile!r}, credentials="
                f"{'given' if self.access_key else 'from the SDK chain'})")


def _section(path: Path, names: tuple[str, ...]) -> dict[str, str]:
    """The first of ``names`` found in the INI file ``path`` (an empty dict when none)."""
    parser = configparser.RawConfigParser()
    try:
        parser.read(path, encoding="utf-8")
    except (configparser.Error, OSError, UnicodeDecodeError) as exc:
        raise SourceError(f"cannot read the AWS configuration {path}: {first_line(exc)}",
                          path=str(path)) from None
    for name in names:
        if parser.has_section(name):
            return {k.lower(): v.strip() for k, v in parser.items(name)}
    return {}


def s3_settings(environ: dict[str, str] | None = None) -> S3Settings:
    """Resolve the S3 settings from ``environ`` (default: the process environment).

    Raises
    ------
    SourceError
        A shared config or credentials file that cannot be parsed.
    """
    env = os.environ if environ is None else environ
    home = Path(env.get("HOME") or Path.home())
    profile = env.get("AWS_PROFILE") or env.get("AWS_DEFAULT_PROFILE") or None
    name = profile or "default"
    config = _section(Path(env.get("AWS_CONFIG_FILE") or home / ".aws" / "config"),
                      (f"profile {name}", name) if name != "default" else ("default",))
    creds = _section(Path(env.get("AWS_SHARED_CREDENTIALS_FILE")
                          or home / ".aws" / "credentials"), (name,))
    endpoint = (env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL")
                or config.get("endpoint_url") or None)
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or config.get("region")
    if env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY"):
        keys = (env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"],
                env.get("AWS_SESSION_TOKEN") or None)
    else:
        source = creds if creds.get("aws_access_key_id") else config
        keys = (source.get("aws_access_key_id") or None,
                source.get("aws_secret_access_key") or None,
                source.get("aws_session_token") or None)
        if not (keys[0] and keys[1]):
            keys = (None, None, None)
    for secret in keys[1:]:
        remember(secret)
    return S3Settings(endpoint.rstrip("/") if endpoint else None, region or None, profile,
                      *keys)


_FILESYSTEMS: dict[S3Settings, object] = {}


def s3_filesystem(settings: S3Settings | None = None):
    """A :class:`pyarrow.fs.S3FileSystem` for ``settings`` (default: :func:`s3_settings`).

    One filesystem is kept per distinct settings, so repeated calls reuse connections.
    """
    from pyarrow import fs as pafs

    settings = settings or s3_settings()
    if settings in _FILESYSTEMS:
        return _FILESYSTEMS[settings]
    options: dict = {"connect_timeout": CONNECT_TIMEOUT, "request_timeout": REQUEST_TIMEOUT,
                     "retry_strategy": pafs.AwsStandardS3RetryStrategy(max_attempts=ATTEMPTS)}
    if settings.endpoint:
        scheme, _, rest = settings.endpoint.partition("://")
        if not rest:
            scheme, rest = "https", settings.endpoint
        options.update(endpoint_override=rest, scheme=scheme)
    if settings.region:
        options["region"] = settings.region
    if settings.access_key:
        options.update(access_key=settings.access_key, secret_key=settings.secret_key,
                       session_token=settings.session_token)
    try:
        filesystem = pafs.S3FileSystem(**options)
    except Exception as exc:  # pyarrow refuses a malformed endpoint or region
        raise SourceError(f"cannot use the S3 settings {settings.describe()}: "
                          f"{mask_secrets(first_line(exc))}") from None
    _FILESYSTEMS[settings] = filesystem
    return filesystem


def boto3_client(settings: S3Settings | None = None):
    """A boto3 S3 client for ``settings``: for the calls pyarrow's filesystem cannot make.

    Raises
    ------
    SourceError
        boto3 is not installed (the message says how to install it).
    """
    try:
        import boto3
        from botocore.config import Config
    except ImportError:
        raise SourceError(f"this needs the boto3 package; install it with: {S3_HINT}") from None
    settings = settings or s3_settings()
    session = boto3.session.Session(
        aws_access_key_id=settings.access_key, aws_secret_access_key=settings.secret_key,
        aws_session_token=settings.session_token, region_name=settings.region,
        profile_name=None if settings.access_key else settings.profile)
    config = Config(connect_timeout=CONNECT_TIMEOUT, read_timeout=REQUEST_TIMEOUT,
                    retries={"max_attempts": ATTEMPTS, "mode": "standard"})
    return session.client("s3", endpoint_url=settings.endpoint, config=config)


# --- failures ---------------------------------------------------------------------------
_ARROW_CODE = re.compile(r"AWS Error (?P<code>[A-Z_]+|\[code \d+\]) during (?P<op>\w+) operation")
_HTTP = re.compile(r"HTTP (?:response )?(?:code|status)[: ]+(?P<status>\d{3})", re.I)
_DENIED = {"ACCESS_DENIED", "AccessDenied", "403", "Forbidden", "AllAccessDisabled"}
_BAD_KEY = {"INVALID_ACCESS_KEY_ID", "InvalidAccessKeyId"}
_BAD_SECRET = {"SIGNATURE_DOES_NOT_MATCH", "SignatureDoesNotMatch"}
_EXPIRED = {"EXPIRED_TOKEN", "ExpiredToken", "RequestExpired", "TokenRefreshRequired"}
_NO_BUCKET = {"NO_SUCH_BUCKET", "NoSuchBucket"}
_NOT_FOUND = {"RESOURCE_NOT_FOUND", "NoSuchKey", "404", "NotFound"}
_NETWORK = {"NETWORK_CONNECTION", "EndpointConnectionError", "ConnectTimeoutError",
            "ConnectionClosedError", "ReadTimeoutError"}


def _code(exc: BaseException) -> tuple[str, str | None]:
    """The S3 error code (pyarrow's or boto3's spelling) and the operation, when known."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):  # botocore's ClientError
        code = str(response.get("Error", {}).get("Code", ""))
        op = getattr(exc, "operation_name", None)
        return code, op
    name = type(exc).__name__
    if name in _NETWORK or name == "NoCredentialsError" or name == "PartialCredentialsError":
        return name, None
    text = str(exc)
    if found := _ARROW_CODE.search(text):
        code = found["code"]
        if code.startswith("[code") and (status := _HTTP.search(text)):
            code = status["status"]
        return code, found["op"]
    if "curlCode: 7" in text or "Couldn't connect" in text or "Connection refused" in text:
        return "NETWORK_CONNECTION", None
    if isinstance(exc, FileNotFoundError):
        return "NotFound", None
    return "", None


def s3_failure(exc: BaseException, url: str, *, error: type[AuditAnalyticsError] = SourceError,
               doing: str = "read", settings: S3Settings | None = None) -> AuditAnalyticsError:
    """A one-line error for an S3 request that failed (pyarrow's ``OSError`` or boto3's).

    Parameters
    ----------
    exc
        What pyarrow or boto3 raised.
    url
        The ``s3://`` location concerned, for the message.
    error
        The class of the error returned (``SourceError`` for reads, ``OutputError`` for
        writes).
    doing
        The verb for the message: ``"read"``, ``"write"``, ``"list"``...
    settings
        The settings used, to name the endpoint when it cannot be reached.
    """
    code, op = _code(exc)
    bucket = url[5:].split("/", 1)[0] if url.startswith("s3://") else url
    permission = f" ({op})" if op else ""
    if code in _NO_BUCKET:
        message = f"bucket not found: s3://{bucket}"
    elif code in _BAD_KEY:
        message = (f"cannot {doing} {url}: the server does not know the AWS access key id "
                   "(check AWS_ACCESS_KEY_ID or the profile's credentials)")
    elif code in _BAD_SECRET:
        message = (f"cannot {doing} {url}: the request signature does not match "
                   "(check the secret access key)")
    elif code in _EXPIRED:
        message = f"cannot {doing} {url}: the AWS credentials have expired"
    elif code in _DENIED:
        message = (f"cannot {doing} {url}: access denied{permission} "
                   "(check the credentials and the IAM permissions)")
    elif code in ("NoCredentialsError", "PartialCredentialsError"):
        message = (f"cannot {doing} {url}: no AWS credentials found (set AWS_ACCESS_KEY_ID "
                   "and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE)")
    elif code in _NETWORK:
        where = settings.describe() if settings else "the S3 endpoint"
        message = f"cannot {doing} {url}: cannot connect to {where}"
    elif code in _NOT_FOUND:
        message = f"not found: {url}"
    else:
        message = f"cannot {doing} {url}: {first_line(exc)}"
    return error(mask_secrets(message), source=url, path=url)
