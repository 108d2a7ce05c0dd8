"""A throwaway PostgreSQL + PostGIS cluster for the tests.

``admin_url()`` gives a superuser URL: ``$LANDRENEW_TEST_PG_URL`` when set (a server you started yourself, e.g.
``eval "$(bash scripts/postgis-cluster.sh start)"``), else a cluster initialised here in a temporary folder owned by
the ``postgres`` OS user (PostgreSQL refuses to run as root), on a free localhost port, stopped at exit.  CI does
not export a URL: ``.ci/run`` only calls ``make test``, which installs ``postgresql-15-postgis-3`` and lets the
tests start this throwaway cluster.

``PgUnavailable`` is raised with the reason when no server can be had.  The PostGIS tests then *fail* with that
reason (a skip would hide a broken set-up); only ``LANDRENEW_SKIP_POSTGIS=1``, set on purpose, turns the failures
into skips, announced in the header and the summary of the test run.

Also runnable: ``python tests/pg_cluster.py`` starts a cluster, prints its URL, and stops it on Enter.
"""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

__all__ = ["PgUnavailable", "PgCluster", "admin_url", "BIN_DIR", "SKIP_ENV", "skip_requested"]

BIN_DIR = Path(os.environ.get("LANDRENEW_PG_BIN", "/usr/lib/postgresql/15/bin"))
ENV_URL = "LANDRENEW_TEST_PG_URL"
#: Set to 1 to skip the PostGIS tests knowingly on a machine without a server (the default is to fail).
SKIP_ENV = "LANDRENEW_SKIP_POSTGIS"


def skip_requested() -> bool:
    """True only when ``$LANDRENEW_SKIP_POSTGIS`` is exactly ``1``."""
    return os.environ.get(SKIP_ENV, "").strip() == "1"


class PgUnavailable(RuntimeError):
    """No PostgreSQL server could be started or reached."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgCluster:
    """initdb + pg_ctl in a temporary folder; ``url`` is the superuser URL (trust auth on 127.0.0.1 only)."""

    def __init__(self, *, port: int | None = None, base: Path | None = None):
        self.port = port or _free_port()
        self.base = Path(base or tempfile.mkdtemp(prefix="landrenew-pg-"))
        self.data = self.base / "data"
        self.user = "postgres"
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self._started = False

    def _cmd(self, *args: str) -> list[str]:
        if os.geteuid() == 0:
            return ["runuser", "-u", self.user, "--", *args]
        return list(args)

    def _run(self, *args: str, timeout: float = 120) -> None:
        proc = subprocess.run(self._cmd(*args), capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            raise PgUnavailable(f"{' '.join(args[:2])} failed: {proc.stderr.strip() or proc.stdout.strip()}")

    def start(self) -> PgCluster:
        for tool in ("initdb", "pg_ctl"):
            if not (BIN_DIR / tool).exists():
                raise PgUnavailable(f"{BIN_DIR / tool} not found: apt-get install postgresql-15-postgis-3")
        if os.geteuid() == 0:
            shutil.chown(self.base, user=self.user)
        else:
            self.user = os.environ.get("USER", "")
        self._run(
            str(BIN_DIR / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-locale",
            "--no-sync",
        )
        self._run(
            str(BIN_DIR / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.base / "server.log"),
            "-w",
            "-t",
            "60",
            "-o",
            f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 -c fsync=off "
            f"-c synchronous_commit=off -c full_page_writes=off",
            "start",
        )
        self._started = True
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as con:
            try:
                con.execute("CREATE EXTENSION IF NOT EXISTS postgis")
            except psycopg.Error as exc:
                self.stop()
                raise PgUnavailable(
                    f"PostGIS extension missing: {exc}; apt-get install postgresql-15-postgis-3"
                ) from exc
        return self

    def stop(self) -> None:
        if self._started:
            subprocess.run(
                self._cmd(str(BIN_DIR / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"),
                capture_output=True,
                timeout=60,
            )
            self._started = False
        shutil.rmtree(self.base, ignore_errors=True)


_CLUSTER: PgCluster | None = None


def admin_url() -> str:
    """A superuser URL of a server with PostGIS available; starts a throwaway cluster once per process."""
    global _CLUSTER
    if os.environ.get(ENV_URL):
        return os.environ[ENV_URL]
    if _CLUSTER is None:
        cluster = PgCluster()
        try:
            cluster.start()
        except (OSError, subprocess.SubprocessError) as exc:
            cluster.stop()
            raise PgUnavailable(f"cannot start PostgreSQL: {exc}") from exc
        except PgUnavailable:
            cluster.stop()
            raise
        atexit.register(cluster.stop)
        _CLUSTER = cluster
    return _CLUSTER.url


if __name__ == "__main__":  # pragma: no cover - manual use
    c = PgCluster().start()
    print(c.url, flush=True)
    try:
        input("running; press Enter to stop\n")
    finally:
        c.stop()
        time.sleep(0)
