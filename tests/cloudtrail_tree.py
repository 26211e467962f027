"""CloudTrail-format trees for the tests: log files, hourly signed digests, the keys file.

Built from CloudTrail's documented formats with RSA key pairs generated here
(``cryptography``); every signature is real SHA256withRSA over the documented string.
A tree is a dict ``key -> (bytes, metadata)``; it is written to a folder (signatures beside
the digests, as ``cloudtrail fetch`` stores them, or left out like a plain copy) or to an
S3 bucket (as object metadata).
"""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import hashlib
import json
import random
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

ACCOUNT = "123456789012"
REGION = "us-east-1"
TRAIL = "management-events"
HOUR = dt.timedelta(hours=1)
#: Digest hours end a minute and a half past the hour, as in CloudTrail's examples.
OFFSET = dt.timedelta(minutes=1, seconds=31)


def _z(when: dt.datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class SigningKey:
    """A generated key pair with the validity list-public-keys reports for it."""

    private: rsa.RSAPrivateKey
    valid_from: dt.datetime
    valid_until: dt.datetime

    @property
    def der(self) -> bytes:
        return self.private.public_key().public_bytes(serialization.Encoding.DER,
                                                      serialization.PublicFormat.PKCS1)

    @property
    def fingerprint(self) -> str:
        return hashlib.md5(self.der).hexdigest()

    def sign(self, data: bytes) -> str:
        return self.private.sign(data, padding.PKCS1v15(), hashes.SHA256()).hex()


def new_key(valid_from: dt.datetime, valid_until: dt.datetime) -> SigningKey:
    return SigningKey(rsa.generate_private_key(public_exponent=65537, key_size=2048),
                      valid_from, valid_until)


def keys_document(keys: list[SigningKey]) -> dict:
    """What ``aws cloudtrail list-public-keys`` prints (CLI v2 JSON: ISO times)."""
    return {"PublicKeyList": [
        {"Value": base64.b64encode(k.der).decode("ascii"),
         "ValidityStartTime": k.valid_from.isoformat(),
         "ValidityEndTime": k.valid_until.isoformat(),
         "Fingerprint": k.fingerprint} for k in keys]}


def record(when: dt.datetime, rng: random.Random, **fields) -> dict:
    """One CloudTrail record (an IAM user's call unless ``fields`` say otherwise)."""
    user = fields.pop("user", rng.choice(["alice", "bob", "carol"]))
    base = {
        "eventVersion": "1.09",
        "userIdentity": {"type": "IAMUser", "principalId": f"AIDA{user.upper():0<16}",
                         "arn": f"arn:aws:iam::{ACCOUNT}:user/{user}", "accountId": ACCOUNT,
                         "accessKeyId": "AKIAEXAMPLE", "userName": user},
        "eventTime": _z(when), "eventSource": "ec2.amazonaws.com",
        "eventName": "DescribeInstances", "awsRegion": REGION,
        "sourceIPAddress": f"198.51.100.{rng.randint(1, 200)}",
        "userAgent": "aws-cli/2.15.0 Python/3.11", "requestParameters": {"maxResults": 50},
        "responseElements": None, "requestID": f"{rng.getrandbits(64):016x}",
        "eventID": f"{rng.getrandbits(128):032x}", "readOnly": True,
        "eventType": "AwsApiCall", "managementEvent": True, "recipientAccountId": ACCOUNT,
        "eventCategory": "Management",
    }
    base.update(fields)
    return base


@dataclass
class Tree:
    """Files of a trail: ``key -> (bytes, metadata)``, and what was built."""

    bucket: str
    prefix: str = ""
    files: dict[str, tuple[bytes, dict]] = field(default_factory=dict)
    digests: list[str] = field(default_factory=list)
    logs: list[str] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)

    def full(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def write(self, root: Path, signatures: bool = True, marker: bool = False) -> Path:
        """Write the tree under ``root`` (signatures as ``.metadata.json`` beside digests)."""
        root.mkdir(parents=True, exist_ok=True)
        for key, (data, meta) in self.files.items():
            path = root / key
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            if meta and signatures:
                (root / (key + ".metadata.json")).write_text(json.dumps(meta))
        if marker:
            (root / ".cloudtrail-location.json").write_text(
                json.dumps({"bucket": self.bucket, "prefix": self.prefix}))
        return root

    def upload(self, client, bucket: str | None = None) -> None:
        """Put every file in an S3 bucket, signatures as user metadata."""
        for key, (data, meta) in self.files.items():
            client.put_object(Bucket=bucket or self.bucket, Key=self.full(key), Body=data,
                              Metadata=meta)


def build_trail(start: dt.datetime, hours: int, keys: list[SigningKey], *,
                bucket: str = "trail-bucket", prefix: str = "", seed: int = 1,
                logs_per_hour=lambda hour: 2, records=None, region: str = REGION) -> Tree:
    """A trail delivering ``hours`` hourly digests from ``start`` (log files inside).

    ``records(when, rng)`` returns the records of one log file (default: 3 calls).
    Each digest is signed with the first key valid at its end time.
    """
    rng = random.Random(seed)
    tree = Tree(bucket=bucket, prefix=prefix)
    previous: dict | None = None
    for hour in range(hours):
        begin = start + OFFSET + hour * HOUR
        end = begin + HOUR
        listed = []
        for n in range(logs_per_hour(hour)):
            when = begin + dt.timedelta(minutes=5 + 20 * n)
            recs = (records or (lambda w, r: [record(w - dt.timedelta(minutes=m), r)
                                              for m in (1, 2, 3)]))(when, rng)
            tree.events.extend(recs)
            raw = json.dumps({"Records": recs}).encode()
            key = (f"AWSLogs/{ACCOUNT}/CloudTrail/{region}/{when:%Y/%m/%d}/{ACCOUNT}_CloudTrail_"
                   f"{region}_{when:%Y%m%dT%H%MZ}_{rng.getrandbits(64):016x}.json.gz")
            tree.files[key] = (gzip.compress(raw, mtime=0), {})
            tree.logs.append(key)
            listed.append({"s3Bucket": bucket, "s3Object": tree.full(key),
                           "hashValue": hashlib.sha256(raw).hexdigest(),
                           "hashAlgorithm": "SHA-256",
                           "newestEventTime": recs[0]["eventTime"] if recs else None,
                           "oldestEventTime": recs[-1]["eventTime"] if recs else None})
        signer = next(k for k in keys if k.valid_from <= end <= k.valid_until)
        key = (f"AWSLogs/{ACCOUNT}/CloudTrail-Digest/{region}/{end:%Y/%m/%d}/{ACCOUNT}_"
               f"CloudTrail-Digest_{region}_{TRAIL}_{region}_{end:%Y%m%dT%H%M%SZ}.json.gz")
        digest = {
            "awsAccountId": ACCOUNT, "digestStartTime": _z(begin), "digestEndTime": _z(end),
            "digestS3Bucket": bucket, "digestS3Object": tree.full(key),
            "digestPublicKeyFingerprint": signer.fingerprint,
            "digestSignatureAlgorithm": "SHA256withRSA",
            "newestEventTime": listed[-1]["newestEventTime"] if listed else None,
            "oldestEventTime": listed[0]["oldestEventTime"] if listed else None,
            "previousDigestS3Bucket": previous["bucket"] if previous else None,
            "previousDigestS3Object": previous["object"] if previous else None,
            "previousDigestHashValue": previous["sha256"] if previous else None,
            "previousDigestHashAlgorithm": "SHA-256" if previous else None,
            "previousDigestSignature": previous["signature"] if previous else None,
            "logFiles": listed,
        }
        raw = json.dumps(digest, indent=2).encode()
        sha = hashlib.sha256(raw).hexdigest()
        text = "\n".join([digest["digestEndTime"], f"{bucket}/{tree.full(key)}", sha,
                          previous["signature"] if previous else "null"]).encode()
        signature = signer.sign(text)
        tree.files[key] = (gzip.compress(raw, mtime=0),
                           {"signature": signature, "signature-algorithm": "SHA256withRSA"})
        tree.digests.append(key)
        previous = {"bucket": bucket, "object": tree.full(key), "sha256": sha,
                    "signature": signature}
    return tree


def resign(tree: Tree, key: str, data: dict, signer: SigningKey) -> None:
    """Replace a digest's content and sign it again (a forger holding ``signer``)."""
    raw = json.dumps(data, indent=2).encode()
    sha = hashlib.sha256(raw).hexdigest()
    previous = data["previousDigestSignature"]
    text = "\n".join([data["digestEndTime"], f"{data['digestS3Bucket']}/{data['digestS3Object']}",
                      sha, "null" if previous is None else previous]).encode()
    tree.files[key] = (gzip.compress(raw, mtime=0),
                       {"signature": signer.sign(text), "signature-algorithm": "SHA256withRSA"})


def digest_data(tree: Tree, key: str) -> dict:
    return json.loads(gzip.decompress(tree.files[key][0]))


def write_keys(path, keys) -> Path:
    """``keys`` written as ``aws cloudtrail list-public-keys`` prints them, to ``path``."""
    path.write_text(json.dumps(keys_document(list(keys))))
    return path
