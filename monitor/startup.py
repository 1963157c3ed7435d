"""What can stop the daemon before it runs, said in one line: the setting, the problem, the fix.

An operator's first hour is mostly this: a database that is not there yet, a directory the service
user cannot write, a port another program holds. Each becomes a `StartupProblem` naming the YAML
setting, never a traceback. Exit codes (documented in the README): 2 = the configuration is
wrong, 3 = the environment is (database, file system, network).
"""
from __future__ import annotations

import asyncio
import errno
import os
import socket
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url

EXIT_CONFIG = 2
EXIT_ENVIRONMENT = 3
CONNECT_TIMEOUT_S = 10.0


@dataclass
class StartupProblem(Exception):
    setting: str  # the YAML path, e.g. "storage.url"
    problem: str
    fix: str
    exit_code: int = EXIT_ENVIRONMENT

    def __str__(self) -> str:
        return f"{self.setting}: {self.problem}. Fix: {self.fix}"


def sqlite_path_problem(url: str) -> StartupProblem | None:
    """The SQLite file's directory must exist (or be creatable) and be writable, as must the file."""
    try:
        u = make_url(url)
    except Exception as e:  # noqa: BLE001 - sqlalchemy raises ArgumentError and friends; say what it was
        return StartupProblem("storage.url", f"not a database URL ({e})",
                              "write sqlite:///path/file.db or postgresql://user@host/db", EXIT_CONFIG)
    if u.get_backend_name() != "sqlite" or not u.database or u.database == ":memory:":
        return None
    path = Path(u.database)
    directory = path.parent
    existing = next((p for p in [directory, *directory.parents] if p.exists()), None)
    if existing is None or not existing.is_dir():
        return StartupProblem("storage.url", f"{directory} cannot be created for the SQLite database",
                              "create the directory, or point storage.url at a writable path")
    if not directory.exists() and not os.access(existing, os.W_OK | os.X_OK):
        return StartupProblem("storage.url", f"{directory} does not exist and {existing} is not writable by "
                              f"this user", f"create {directory} owned by the service user, or point storage.url "
                              "at a writable path")
    if directory.exists() and not os.access(directory, os.W_OK | os.X_OK):
        return StartupProblem("storage.url", f"the directory {directory} is not writable by this user (SQLite "
                              "writes its journal beside the file)", f"chown {directory} to the service user, "
                              "or point storage.url at a writable path")
    if path.exists() and not os.access(path, os.R_OK | os.W_OK):
        return StartupProblem("storage.url", f"the SQLite file {path} is not readable and writable by this user",
                              f"chown {path} to the service user")
    return None


async def storage_problem(url: str) -> StartupProblem | None:
    """Open one connection and run one statement; None when the database is usable."""
    problem = sqlite_path_problem(url)
    if problem is not None:
        return problem
    from monitor.storage.engine import create_engine

    try:
        engine = create_engine(url)
    except Exception as e:  # noqa: BLE001 - a bad URL or driver: one line, not a traceback
        return explain_storage(e, url)
    try:
        async with asyncio.timeout(CONNECT_TIMEOUT_S):
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
    except Exception as e:  # noqa: BLE001 - every driver error becomes one readable line
        return explain_storage(e, url)
    finally:
        await engine.dispose()
    return None


def explain_storage(exc: BaseException, url: str) -> StartupProblem:
    """One line for a database error, naming what to do about it."""
    try:
        u = make_url(url)
        where = f"{u.host or 'localhost'}:{u.port or 5432}" if u.get_backend_name() != "sqlite" else str(u.database)
        db = u.database or ""
        user = u.username or ""
    except Exception:  # noqa: BLE001
        where, db, user = url.split("@")[-1], "", ""
    message = str(getattr(exc, "orig", None) or exc).splitlines()[0] if str(exc) else type(exc).__name__
    low = message.lower()
    if isinstance(exc, TimeoutError):
        return StartupProblem("storage.url", f"no answer from the database at {where} in {CONNECT_TIMEOUT_S:g} s",
                              "check that it runs and that this host may reach it")
    if "does not exist" in low and "database" in low:
        return StartupProblem("storage.url", f'the database "{db}" does not exist on {where}',
                              f"create it (createdb {db}) or correct storage.url")
    if "password authentication failed" in low or ("role" in low and "does not exist" in low) \
            or "no pg_hba.conf entry" in low:
        return StartupProblem("storage.url", f"PostgreSQL at {where} refused the login of {user!r} ({message})",
                              "correct the user and password in storage.url (the password from an ${ENV} variable)")
    if isinstance(exc, ConnectionRefusedError) or "connect call failed" in low or "connection refused" in low:
        return StartupProblem("storage.url", f"cannot reach the database at {where} (connection refused)",
                              "start the database, or correct the host and port in storage.url")
    if isinstance(exc, socket.gaierror) or "name or service not known" in low:
        return StartupProblem("storage.url", f"the database host in {where} does not resolve",
                              "correct the host in storage.url")
    if "unable to open database file" in low or isinstance(exc, PermissionError | FileNotFoundError):
        return StartupProblem("storage.url", f"SQLite cannot open {where} ({message})",
                              "make the file and its directory writable by the service user")
    if "readonly" in low or "read-only" in low:
        return StartupProblem("storage.url", f"the database {where} is read-only ({message})",
                              "make it writable by the service user")
    return StartupProblem("storage.url", f"the database at {where} cannot be used: {type(exc).__name__}: {message}",
                          "check storage.url and that the database runs")


def port_problem(host: str, port: int) -> StartupProblem | None:
    """Whether /healthz can listen there (port 0 picks a free one)."""
    if port == 0:
        return None
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror:
        return StartupProblem("server.host", f"{host!r} is not an address of this machine",
                              "use 127.0.0.1, 0.0.0.0 or one of this host's addresses", EXIT_CONFIG)
    family, _, _, _, address = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as aiohttp does: TIME_WAIT is no conflict
        try:
            s.bind(address)
        except OSError as e:
            return explain_bind(e, host, port)
    return None


def explain_bind(exc: OSError, host: str, port: int) -> StartupProblem:
    if exc.errno == errno.EADDRINUSE:
        return StartupProblem("server.port", f"{host}:{port} is already in use (another outreach-monitor, or "
                              "another program)", "stop what listens there, or choose another server.port")
    if exc.errno == errno.EACCES:
        return StartupProblem("server.port", f"this user may not listen on {host}:{port}",
                              "choose a port above 1023, or run with the needed capability")
    if exc.errno == errno.EADDRNOTAVAIL:
        return StartupProblem("server.host", f"{host} is not an address of this machine",
                              "use 127.0.0.1, 0.0.0.0 or one of this host's addresses", EXIT_CONFIG)
    return StartupProblem("server.port", f"cannot listen on {host}:{port} ({exc.strerror})",
                          "choose another server.host/server.port")


async def preflight(storage_url: str, host: str, port: int, *, serve_http: bool = True) -> StartupProblem | None:
    """What `run` checks before it starts anything: the database, then the port."""
    return await storage_problem(storage_url) or (port_problem(host, port) if serve_http else None)
