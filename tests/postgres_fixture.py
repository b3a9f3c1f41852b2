"""A throwaway PostgreSQL cluster for tests: initdb in a temp dir, pg_ctl on a free port.

Uses Debian's ``postgresql`` package binaries (/usr/lib/postgresql/<major>/bin). PostgreSQL
refuses to run as root, so as root the cluster runs as the ``postgres`` user. A missing
PostgreSQL skips, unless REQUIRE_POSTGRES=1 (CI), where it fails.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

PG_ROOT = Path("/usr/lib/postgresql")
USER = "tuner"


def require_or_skip(reason: str) -> None:
    """Skip with ``reason``, or fail when CI demands PostgreSQL."""
    if os.environ.get("REQUIRE_POSTGRES") == "1":
        pytest.fail(f"REQUIRE_POSTGRES=1 but {reason}")
    pytest.skip(reason)


def find_bindir() -> Path | None:
    """The newest installed PostgreSQL's bin dir (``$PG_BINDIR`` first)."""
    if os.environ.get("PG_BINDIR"):
        return Path(os.environ["PG_BINDIR"])
    versions = sorted(
        (p for p in PG_ROOT.glob("*/bin") if (p / "initdb").is_file()),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    if versions:
        return versions[-1]
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PostgresCluster:
    """A running cluster; :meth:`create_database` gives each test its own database."""

    bindir: Path
    datadir: Path
    port: int
    run_as: str | None

    def _run(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = list(argv)
        if self.run_as is not None:
            cmd = ["runuser", "-u", self.run_as, "--", *cmd]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=check)

    def url(self, database: str) -> str:
        """SQLAlchemy URL with the psycopg 3 driver (as `tuner --storage` takes it)."""
        return f"postgresql+psycopg://{USER}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        self._run(
            str(self.bindir / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", USER, name
        )
        return self.url(name)

    def start(self) -> subprocess.CompletedProcess[str]:
        """Start (or restart after :meth:`stop`) the server; waits until it accepts."""
        home = self.datadir.parent
        options = f"-p {self.port} -k {home} -c listen_addresses=127.0.0.1 -c max_connections=200"
        return self._run(
            str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-o", options,
            "-l", str(home / "log"), "-w", "-t", "60", "start",
            check=False,
        )  # fmt: skip

    def stop(self, mode: str = "immediate") -> None:
        """Stop the server; ``immediate`` drops every connection at once, as a crash does."""
        self._run(
            str(self.bindir / "pg_ctl"),
            "-D",
            str(self.datadir),
            "-m",
            mode,
            "stop",
            check=False,
        )


@contextmanager
def postgres_cluster() -> Iterator[PostgresCluster]:
    """Start a cluster in a temp dir; stop it and delete everything afterwards."""
    bindir = find_bindir()
    if bindir is None:
        require_or_skip("PostgreSQL (initdb) is not installed: apt-get install postgresql")
    assert bindir is not None
    run_as: str | None = None
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            require_or_skip("running as root and there is no 'postgres' user to run PostgreSQL as")
        run_as = "postgres"
    tmp = Path(tempfile.mkdtemp(prefix="redisevolve-pg-"))
    os.chmod(tmp, 0o755)
    datadir = tmp / "data"
    datadir.mkdir()
    if run_as is not None:
        shutil.chown(datadir, user=run_as)
        shutil.chown(tmp, user=run_as)
    cluster = PostgresCluster(bindir, datadir, free_port(), run_as)
    try:
        init = cluster._run(
            str(bindir / "initdb"), "-D", str(datadir), "-U", USER, "--auth=trust", "-E", "UTF8",
            check=False,
        )  # fmt: skip
        if init.returncode != 0:
            pytest.fail(f"initdb failed: {init.stderr[-2000:]}")
        start = cluster.start()
        if start.returncode != 0:
            log = (tmp / "log").read_text(errors="replace") if (tmp / "log").exists() else ""
            pytest.fail(f"pg_ctl start failed: {start.stderr}\n{log[-2000:]}")
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(tmp, ignore_errors=True)
