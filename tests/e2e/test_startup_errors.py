"""An operator's first hour: what stops `run` and `check` is one line naming the setting and the
fix, never a traceback; exit 2 means the configuration is wrong, 3 the environment."""
from __future__ import annotations

import asyncio
import os
import socket
import sys

import pytest
from helpers import write_config

EXIT_CONFIG, EXIT_ENVIRONMENT = 2, 3


async def cli(*args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "monitor", *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), 60)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    return proc.returncode, out.decode()


def one_clear_line(out: str, setting: str) -> str:
    assert "Traceback" not in out, out
    lines = [line for line in out.splitlines() if "✗" in line]
    assert len(lines) == 1, out
    assert lines[0].count(setting) >= 1 and "Fix:" in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


UNWRITABLE = "a-file-not-a-directory/sub/db.sqlite"  # tests run as root: a file in the way, not chmod


@pytest.mark.parametrize("command", ["check", "run"])
async def test_an_unusable_sqlite_path_is_one_line_and_exit_3(tmp_path, command, free_port) -> None:
    (tmp_path / "a-file-not-a-directory").write_text("")
    path = write_config(tmp_path / "c.yaml", {"storage": {"url": f"sqlite:///{tmp_path / UNWRITABLE}"},
                                               "server": {"port": free_port}})
    code, out = await cli(command, "--config", str(path))
    assert code == EXIT_ENVIRONMENT, out
    assert "cannot be created" in one_clear_line(out, "storage.url")


@pytest.mark.parametrize("command", ["check", "run"])
async def test_an_unreachable_database_is_one_line_and_exit_3(tmp_path, command, free_port) -> None:
    url = f"postgresql://root@127.0.0.1:{free_port}/outreach"  # nothing listens there
    path = write_config(tmp_path / "c.yaml", {"storage": {"url": url}, "server": {"port": 0}})
    code, out = await cli(command, "--config", str(path))
    assert code == EXIT_ENVIRONMENT, out
    assert "connection refused" in one_clear_line(out, "storage.url")


@pytest.mark.skipif(not os.environ.get("OUTREACH_TEST_PG_URL"), reason="OUTREACH_TEST_PG_URL is not set")
async def test_a_missing_database_says_how_to_create_it(tmp_path) -> None:
    from sqlalchemy.engine import make_url

    url = make_url(os.environ["OUTREACH_TEST_PG_URL"]).set(database="om_no_such_db")
    path = write_config(tmp_path / "c.yaml", {"storage": {"url": url.render_as_string(hide_password=False)}})
    code, out = await cli("check", "--config", str(path))
    assert code == EXIT_ENVIRONMENT, out
    assert "createdb om_no_such_db" in one_clear_line(out, "storage.url")


async def test_a_port_in_use_is_one_line_and_exit_3(tmp_path) -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        path = write_config(tmp_path / "c.yaml", {"storage": {"url": f"sqlite:///{tmp_path / 'db.sqlite'}"},
                                                   "server": {"host": "127.0.0.1", "port": port}})
        code, out = await cli("run", "--config", str(path))
    assert code == EXIT_ENVIRONMENT, out
    assert "already in use" in one_clear_line(out, "server.port")


@pytest.mark.parametrize("command", ["check", "run"])
async def test_an_unknown_log_level_is_a_config_error(tmp_path, command) -> None:
    path = write_config(tmp_path / "c.yaml", {"storage": {"url": f"sqlite:///{tmp_path / 'db.sqlite'}"},
                                               "logging": {"level": "verbose"}})
    code, out = await cli(command, "--config", str(path))
    assert code == EXIT_CONFIG, out
    assert "logging.level" in out and "verbose" in out and "Traceback" not in out
