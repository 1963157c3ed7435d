"""The two storage backends of the reliability matrix, each able to give a fresh database per case and
to make the database unavailable for a while.

- SQLite: a file per case; "unavailable" is another process holding an exclusive lock (as a backup
  tool or a stuck writer would), so every write of the daemon fails with "database is locked".
- PostgreSQL: a server of our OWN, initdb'd into a temporary directory and listening on a free port
  of 127.0.0.1, so it can be stopped and started under the daemon. The shared server on 5432 is never
  touched. Run as root, the server runs as the `postgres` user (initdb refuses root).
"""
from __future__ import annotations

import asyncio
import glob
import os
import shutil
import socket
import sqlite3
import subprocess
import tempfile
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import AsyncIterator

from sqlalchemy.ext.asyncio import create_async_engine


class SqliteBackend:
    name = "sqlite"

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir

    async def open(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def fresh_url(self, case: str) -> str:
        path = self.workdir / f"{case}.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return f"sqlite:///{path}"

    @asynccontextmanager
    async def unavailable(self, url: str) -> AsyncIterator[None]:
        """Hold an exclusive lock on the file: the daemon can neither write nor (in rollback mode) read."""
        conn = sqlite3.connect(url.removeprefix("sqlite:///"), timeout=30, isolation_level=None,
                               check_same_thread=False)
        try:
            await asyncio.to_thread(conn.execute, "BEGIN EXCLUSIVE")  # waits for a write in progress
            yield
        finally:
            with suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            conn.close()

    what_unavailable_means = "another process holds an exclusive lock on the file"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pg_bin(explicit: str | None) -> Path:
    if explicit:
        return Path(explicit)
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if found:
        return Path(found[-1]).parent
    which = shutil.which("pg_ctl")
    if which:
        return Path(which).parent
    raise SystemExit("PostgreSQL binaries not found: give --pg-bin (the folder with initdb and pg_ctl)")


class PostgresBackend:
    name = "postgresql"
    what_unavailable_means = "the server is stopped (pg_ctl stop -m fast) and started again"

    def __init__(self, workdir: Path, *, pg_bin: str | None = None) -> None:
        self.bin = _pg_bin(pg_bin)
        self.port = _free_port()
        # its own folder under the system temp dir: the server user must be able to reach it
        self.root = Path(tempfile.mkdtemp(prefix="om-reliability-pg-"))
        self.data = self.root / "data"
        self.logfile = self.root / "server.log"
        self._as_other_user = os.geteuid() == 0
        self._n = 0

    def _run(self, *args: str) -> None:
        cmd = [str(self.bin / args[0]), *args[1:]]
        if self._as_other_user:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    async def open(self) -> None:
        if self._as_other_user:
            shutil.chown(self.root, "postgres", "postgres")
        await asyncio.to_thread(self._run, "initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust",
                                "--no-sync", "-E", "UTF8")
        await self.start_server()

    async def start_server(self) -> None:
        opts = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} -c fsync=off -c max_connections=200"
        await asyncio.to_thread(self._run, "pg_ctl", "-D", str(self.data), "-l", str(self.logfile), "-o", opts,
                                "-w", "-t", "60", "start")

    async def stop_server(self) -> None:
        await asyncio.to_thread(self._run, "pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", "60", "stop")

    async def close(self) -> None:
        with suppress(subprocess.CalledProcessError, FileNotFoundError):
            if (self.data / "postmaster.pid").exists():
                await self.stop_server()
        shutil.rmtree(self.root, ignore_errors=True)

    async def fresh_url(self, case: str) -> str:
        self._n += 1
        name = f"{case}_{self._n}"
        admin = create_async_engine(self.admin_url.replace("postgresql://", "postgresql+asyncpg://"),
                                    isolation_level="AUTOCOMMIT")
        try:
            async with admin.connect() as conn:
                await conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        finally:
            await admin.dispose()
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    @asynccontextmanager
    async def unavailable(self, url: str) -> AsyncIterator[None]:
        await self.stop_server()
        try:
            yield
        finally:
            await self.start_server()
