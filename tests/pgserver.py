"""A throwaway PostgreSQL server for the tests and the PostgreSQL benchmark.

``initdb``/``pg_ctl`` from PATH create a cluster in a temporary folder and start it on a
free localhost port with password (SCRAM) authentication over TCP, so wrong-password
cases are real. As root, the binaries run as the ``postgres`` OS user through
``runuser``. When ``AUDIT_ANALYTICS_TEST_PG_URL`` names a server (a superuser URL),
that server is used instead and nothing is started.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit

ENV_URL = "AUDIT_ANALYTICS_TEST_PG_URL"


def free_port() -> int:
    """A localhost TCP port nothing listens on (at the time of asking)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class PgServer:
    """A running server: a superuser URL and the means to make databases and roles."""

    host: str
    port: int
    user: str
    password: str
    dbname: str = "postgres"
    _tmp: Path | None = None
    _runas: list[str] | None = None

    def url(self, dbname: str | None = None, *, user: str | None = None,
            password: str | None = None) -> str:
        """``postgresql://user:password@host:port/db`` (superuser unless told)."""
        user = user or self.user
        password = self.password if password is None else password
        return (f"postgresql://{quote(user, safe='')}:{quote(password, safe='')}"
                f"@{self.host}:{self.port}/{dbname or self.dbname}")

    def connect(self, dbname: str | None = None, **kwargs):
        """A psycopg connection as the superuser (autocommit)."""
        import psycopg

        return psycopg.connect(self.url(dbname), autocommit=True, **kwargs)

    def create_database(self, name: str) -> str:
        """Create a fresh database (dropping any old one) and return its superuser URL."""
        from psycopg import sql

        with self.connect() as con:
            con.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)))
            con.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url(name)

    def stop(self) -> None:
        """Stop the server this object started, and remove its folder."""
        if self._tmp is None:
            return
        subprocess.run([*self._runas, "pg_ctl", "-D", str(self._tmp / "data"), "-m",
                        "immediate", "stop"], capture_output=True, check=False)
        shutil.rmtree(self._tmp, ignore_errors=True)
        self._tmp = None


def start_server() -> PgServer:
    """Start a temporary server, or describe the one named by ``AUDIT_ANALYTICS_TEST_PG_URL``."""
    given = os.environ.get(ENV_URL)
    if given:
        parts = urlsplit(given)
        return PgServer(parts.hostname or "localhost", parts.port or 5432,
                        parts.username or "postgres", parts.password or "",
                        (parts.path or "/postgres").lstrip("/") or "postgres")
    if shutil.which("initdb") is None or shutil.which("pg_ctl") is None:
        raise RuntimeError("initdb/pg_ctl not on PATH; set " + ENV_URL)
    tmp = Path(tempfile.mkdtemp(prefix="aa-pg-"))
    runas: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(tmp, "postgres", "postgres")
        runas = ["runuser", "-u", "postgres", "--"]
    password = secrets.token_hex(12)
    pwfile = tmp / "pw"
    pwfile.write_text(password + "\n")
    if runas:
        shutil.chown(pwfile, "postgres", "postgres")
    data = tmp / "data"
    subprocess.run([*runas, "initdb", "-D", str(data), "-U", "postgres", "-E", "UTF8",
                    "--locale=C", "--auth-local=trust", "--auth-host=scram-sha-256",
                    f"--pwfile={pwfile}"], check=True, capture_output=True)
    port = free_port()
    options = (f"-p {port} -k {tmp} -c listen_addresses=127.0.0.1 -c fsync=off "
               "-c synchronous_commit=off -c full_page_writes=off -c shared_buffers=128MB "
               "-c max_connections=40")
    proc = subprocess.run([*runas, "pg_ctl", "-D", str(data), "-o", options, "-l",
                           str(tmp / "log"), "-w", "-t", "60", "start"],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        log = (tmp / "log").read_text() if (tmp / "log").exists() else ""
        shutil.rmtree(tmp, ignore_errors=True)
        raise RuntimeError(f"pg_ctl start failed: {proc.stderr.strip()} {log[-500:]}")
    server = PgServer("127.0.0.1", port, "postgres", password, _tmp=tmp, _runas=runas)
    deadline = time.monotonic() + 30
    while True:
        try:
            server.connect().close()
            break
        except Exception:
            if time.monotonic() > deadline:
                server.stop()
                raise
            time.sleep(0.2)
    return server
