"""The demo site as a user runs it: migrated, seeded, served by uvicorn in its own process.

Its own SQLite file and a private Redis (so that a second process — a shell
sending notifications — reaches the server's sockets, and so that runs sharing the
machine's Redis never see each other). The seeded users are alice, bob and carol
with password ``livebell``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import free_port
from tests.processes import ROOT, RedisServer, wait_for_port

DEMO = ROOT / "demo"
# uvicorn's trace lines: "127.0.0.1:5000 - ASGI [7] Started scope={...}", "… [7] Completed".
_STARTED = re.compile(r"ASGI \[(\d+)\] Started scope=")
_ENDED = re.compile(r"ASGI \[(\d+)\] (?:Completed|Raised exception)")
PASSWORD = "livebell"


class DemoSite:
    """One demo server on a free port, with its database and Redis."""

    def __init__(self, directory: Path, redis: RedisServer) -> None:
        self.directory = directory
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "demo.settings",
            "DATABASE_URL": f"sqlite:///{directory / 'demo.sqlite3'}",
            "REDIS_URL": redis.url,
            # The demo first, then whatever the tests run with (a checkout's src/).
            "PYTHONPATH": os.pathsep.join(filter(None, [str(DEMO), os.environ.get("PYTHONPATH")])),
        }
        self.env.pop("LIVEBELL_TEST_CHANNEL_LAYERS", None)
        self.manage("migrate", "--noinput")
        self.manage("seed_demo")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # uvicorn's trace log has each ASGI connection's start and end: the server's own
        # count of open sockets.
        self.log = directory / "server.log"
        self.start()

    def start(self) -> None:
        """Serve the demo (again) on its port, as ``make demo`` does."""
        with self.log.open("a") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "uvicorn", "demo.asgi:application", "--host", "127.0.0.1",
                 "--port", str(self.port), "--log-level", "trace", "--ws-max-size", "65536",
                 "--ws-per-message-deflate", "false"],
                env=self.env,
                cwd=DEMO,
                stdout=log,
                stderr=subprocess.STDOUT,
            )  # fmt: skip
        wait_for_port(self.port, self.process)

    def open_sockets(self) -> int:
        """How many WebSockets the server is serving now, from its own (trace) log."""
        open_: set[str] = set()
        for line in self.log.read_text().splitlines():
            started = _STARTED.search(line)
            if started and "'type': 'websocket'" in line:
                open_.add(started.group(1))
            ended = _ENDED.search(line)
            if ended:
                open_.discard(ended.group(1))
        return len(open_)

    def socket_urls(self) -> list[str]:
        """The path and query of every WebSocket the server accepted, in order."""
        return [
            line.split('"WebSocket ', 1)[1].split('"', 1)[0]
            for line in self.log.read_text().splitlines()
            if '"WebSocket ' in line and "[accepted]" in line
        ]

    def manage(self, *args: str) -> str:
        """Run ``manage.py`` of the demo against this site's database and Redis."""
        done = subprocess.run(
            [sys.executable, "manage.py", *args],
            env=self.env,
            cwd=DEMO,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    def shell(self, code: str) -> str:
        """Run Python in the demo's Django (``manage.py shell -c``)."""
        return self.manage("shell", "--no-imports", "-c", code)

    def stop(self) -> None:
        """SIGTERM, as a deploy does: uvicorn closes the sockets with 1012 first."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


@pytest.fixture
def demo_site(tmp_path: Path, private_redis: RedisServer) -> Iterator[DemoSite]:
    """The demo, seeded and served; stopped after the test."""
    site = DemoSite(tmp_path, private_redis)
    yield site
    site.stop()


async def log_in(
    browser: Any, base: str, username: str, password: str = PASSWORD, **context: Any
) -> Any:
    """A new browser context (its own cookies; ``context`` are its options, e.g. a
    ``locale``) logged in as ``username``, on the home page."""
    page = await (await browser.new_context(**context)).new_page()
    await page.goto(base + "/")
    assert "/accounts/login/" in page.url  # anonymous users are sent to log in
    await page.fill("#id_username", username)
    await page.fill("#id_password", password)
    await page.click("form.login button[type=submit]")
    await page.wait_for_url(base + "/")
    return page
