"""A page of a site that moved from django-notifications-hq updates live in Chromium.

The site (tests/hq_site/) is hq's app (livebell-notifications-hq) beside livebell,
served by uvicorn; its page is hq's template tags only: ``{% register_notify_callbacks %}``,
``{% live_notify_badge %}``, ``{% live_notify_list %}`` and ``notifications/notify.js``.
``notify.send()`` runs in another process; the badge and the list change without the
page polling hq's endpoints. Without livebell's API mounted, the same page polls them,
as hq's script did.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import free_port, require_redis
from tests.processes import ROOT, wait_for_port

pytestmark = [pytest.mark.browser, pytest.mark.any_database]

POLL_PATH = "/inbox/notifications/api/unread_list/"


class Site:
    def __init__(self, directory: Path, urlconf: str) -> None:
        self.env = {
            **{k: v for k, v in os.environ.items() if k != "DATABASE_URL"},
            "DJANGO_SETTINGS_MODULE": "tests.hq_site.settings",
            "HQ_SITE_URLCONF": urlconf,
            "PYTHONPATH": str(ROOT),
            "HQ_SITE_DB": str(directory / "site.sqlite3"),
            # Its own key: its own channel-layer groups in the shared Redis.
            "HQ_SITE_SECRET": secrets.token_hex(16),
            "HQ_SITE_REDIS": os.environ.get("LIVEBELL_TEST_REDIS_URL", "redis://127.0.0.1:6379/0"),
        }
        self.run("django", "migrate", "--noinput", "-v", "0")
        self.session = self.run("tests.hq_site.site_command", "setup").strip()
        self.port = free_port()
        self.origin = f"http://127.0.0.1:{self.port}"
        self.server = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "tests.hq_site.asgi:application", "--host",
             "127.0.0.1", "--port", str(self.port), "--lifespan", "off", "--log-level",
             "warning", "--ws-max-size", "65536", "--ws-per-message-deflate", "false"],
            env=self.env,
            cwd=ROOT,
        )  # fmt: skip
        wait_for_port(self.port, self.server)

    def run(self, module: str, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", module, *args],
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    def send(self, verb: str) -> None:
        """hq's ``notify.send(alice, recipient=bob, verb=verb)``, in another process."""
        self.run("tests.hq_site.site_command", "send", verb)

    def stop(self) -> None:
        self.server.terminate()
        self.server.wait(10)


@pytest.fixture
def site(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Site]:
    require_redis()
    served = Site(tmp_path, getattr(request, "param", "tests.hq_site.urls"))
    yield served
    served.stop()


async def _open(browser: Any, site: Site) -> tuple[Any, list[str]]:
    context = await browser.new_context()
    await context.add_cookies([{"name": "sessionid", "value": site.session, "url": site.origin}])
    page = await context.new_page()
    polls: list[str] = []
    page.on("request", lambda r: polls.append(r.url) if POLL_PATH in r.url else None)
    await page.goto(site.origin + "/")
    return page, polls


async def _until(check: Any, what: str, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout}s")
        await asyncio.sleep(0.05)


async def _badge(page: Any) -> str:
    return str(await page.text_content(".live_notify_badge"))


async def test_live_notify_badge_updates_from_the_socket_when_notify_send_runs_elsewhere(
    browser: Any, site: Site
) -> None:
    page, polls = await _open(browser, site)
    assert await _badge(page) == "0"
    await _until(
        lambda: page.evaluate("!!window.notify_livebell && notify_livebell.state === 'open'"),
        what="livebell's socket open",
    )

    site.send("commented on your answer")

    async def badge_is(text: str) -> bool:
        return await _badge(page) == text

    await _until(lambda: badge_is("1"), what="badge at 1")
    items = await page.locator(".live_notify_list li").all_text_contents()
    assert len(items) == 1
    assert items[0].startswith("alice commented on your answer ")

    site.send("liked your post")
    await _until(lambda: badge_is("2"), what="badge at 2")
    items = await page.locator(".live_notify_list li").all_text_contents()
    assert [item.split(" 20")[0] for item in items] == [
        "alice liked your post",
        "alice commented on your answer",
    ]
    # Marked read through hq's API (its POST form) in another tab: the badge follows.
    other = await page.context.new_page()
    await other.goto(site.origin + "/inbox/notifications/")
    await other.locator("form button").first.click()
    await _until(lambda: badge_is("1"), what="badge back at 1")
    # Live all along: hq's polling endpoint was never asked.
    assert polls == []


@pytest.mark.parametrize("site", ["tests.hq_site.urls_without_livebell"], indirect=True)
async def test_without_livebell_api_the_page_polls_hq_endpoints(browser: Any, site: Site) -> None:
    page, polls = await _open(browser, site)
    assert await _badge(page) == "0"
    site.send("commented")

    async def badge_is_one() -> bool:
        return await _badge(page) == "1"

    await _until(badge_is_one, what="badge at 1 by polling")
    assert polls
