"""A private PostgreSQL cluster for tests: initdb + pg_ctl on a free loopback port.

`pg_cluster` is session-scoped (re-exported by tests/conftest.py), so every module that runs the
ledger on PostgreSQL shares ONE server; each test takes a fresh database from it. Tests using it
are marked `integration` (see BACKENDS and `ledger_url`).
"""

from __future__ import annotations

import glob
import os
import pwd
import shlex
import shutil
import socket
import subprocess
import tempfile
import time
from itertools import count
from pathlib import Path

import pytest
import sqlalchemy as sa

def _pg_bindir() -> Path | None:
    """A directory holding initdb, pg_ctl and postgres: PATH first, then /usr/lib/postgresql/*/bin."""
    candidates = []
    for tool in ("pg_ctl", "initdb"):
        found = shutil.which(tool)
        if found:
            candidates.append(Path(found).resolve().parent)
    versions = glob.glob("/usr/lib/postgresql/*/bin")
    versions.sort(key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit() else 0, reverse=True)
    candidates += [Path(p) for p in versions]
    for d in candidates:
        if all((d / tool).is_file() for tool in ("initdb", "pg_ctl", "postgres")):
            return d
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgCluster:
    """initdb + pg_ctl start on a free loopback port, as a non-root user; stops only itself."""

    USER = "ledger"

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.owner: str | None = None
        if os.geteuid() == 0:
            try:
                pw = pwd.getpwnam("postgres")
            except KeyError:
                pytest.fail("running as root: PostgreSQL refuses root and there is no 'postgres' user to run it as")
            self.owner = "postgres"
            self._uid, self._gid = pw.pw_uid, pw.pw_gid
        self.root = Path(tempfile.mkdtemp(prefix="ledger-pg-"))
        self.data = self.root / "data"
        self.port = 0
        self.started = False
        self._dbs = count()

    def _run(self, *args: str) -> subprocess.CompletedProcess:
        cmd = [str(a) for a in args]
        if self.owner is not None:
            if shutil.which("runuser"):
                cmd = ["runuser", "-u", self.owner, "--", *cmd]
            else:
                cmd = ["su", self.owner, "-s", "/bin/sh", "-c", shlex.join(cmd)]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)

    def start(self) -> None:
        if self.owner is not None:
            os.chown(self.root, self._uid, self._gid)
        done = self._run(self.bindir / "initdb", "-D", self.data, "-A", "trust", "-U", self.USER,
                         "-E", "UTF8", "--no-locale", "--no-sync")
        if done.returncode != 0:
            pytest.fail(f"initdb failed: {done.stderr or done.stdout}")
        log = self.root / "server.log"
        for _attempt in range(3):  # the chosen port can be taken between bind() and start
            self.port = _free_port()
            opts = (f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1 "
                    f"-c fsync=off -c synchronous_commit=off -c full_page_writes=off")
            done = self._run(self.bindir / "pg_ctl", "-D", self.data, "-o", opts, "-l", log, "-w", "-t", "60", "start")
            if done.returncode == 0:
                self.started = True
                return
        pytest.fail(f"pg_ctl start failed: {done.stderr or done.stdout}\n{log.read_text() if log.exists() else ''}")

    def stop(self) -> None:
        try:
            if self.started:
                self._run(self.bindir / "pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop")
                self.started = False
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def url(self, db: str) -> str:
        return f"postgresql+psycopg2://{self.USER}@127.0.0.1:{self.port}/{db}"

    def new_database(self) -> str:
        name = f"ledger_{os.getpid()}_{next(self._dbs)}"
        admin = sa.create_engine(self.url("postgres"), isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        finally:
            admin.dispose()
        return self.url(name)


@pytest.fixture(scope="session")
def pg_cluster():
    """One private PostgreSQL cluster for the whole test session; each test asks it for a new
    database (`PgCluster.new_database`). Skipped only when no server binary exists."""
    bindir = _pg_bindir()
    if bindir is None:
        pytest.skip("no PostgreSQL server binaries (initdb/pg_ctl/postgres) on PATH or in /usr/lib/postgresql/*/bin")
    cluster = PgCluster(bindir)
    t0 = time.perf_counter()
    try:
        cluster.start()
        print(f"\nPostgreSQL cluster from {bindir} on 127.0.0.1:{cluster.port} up in {time.perf_counter() - t0:.2f} s")
        yield cluster
    finally:
        cluster.stop()


# The backends a ledger test runs on: a SQLite file, and a database of the session's cluster.
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)]


def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of a fresh, empty ledger database for `request.param` (one of BACKENDS)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.db'}"
    return request.getfixturevalue("pg_cluster").new_database()
