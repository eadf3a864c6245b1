"""The bell in a real Chromium behind a proxy that refuses WebSocket upgrades: the
client falls back to the event stream by itself, and a dropped stream resumes with
no gap."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from asgiref.sync import sync_to_async

from livebell import anotify
from tests.conftest import session_cookie
from tests.processes import eventually
from tests.refusing_proxy import RefusingProxy

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CLIENT = "document.querySelector('[data-livebell]').livebell.bell"


@pytest.fixture
async def proxy(live_server_url: str) -> AsyncIterator[RefusingProxy]:
    proxy = RefusingProxy(live_server_url.removeprefix("http://"))
    await proxy.start()
    yield proxy
    await proxy.stop()


async def test_behind_a_proxy_without_websockets_the_bell_is_live_and_resumes(
    proxy: RefusingProxy, browser: Any, amake_user: Any
) -> None:
    from playwright.async_api import expect

    bob = await amake_user("bob")
    context = await browser.new_context()
    name, value = (await sync_to_async(session_cookie)(bob)).split("=", 1)
    await context.add_cookies([{"name": name, "value": value, "url": proxy.url}])
    page = await context.new_page()
    await page.goto(proxy.url + "/bell/")
    await expect(page.locator(".livebell")).to_have_attribute("data-state", "open")
    assert await page.evaluate(f"{CLIENT}.transport") == "stream"
    assert proxy.refused_upgrades >= 2 and proxy.streams_opened == 1
    record = "(f) => window.got.push(f.notification.id)"
    await page.evaluate(f"() => {{ window.got = []; {CLIENT}.on('notification', {record}); }}")
    badge = page.locator(".lb-badge")

    [first] = await anotify(bob, "through the stream")
    await expect(badge).to_have_text("1")

    proxy.drop_streams()
    missed = [(await anotify(bob, f"while the stream was down {i}"))[0].pk for i in range(3)]
    await expect(badge).to_have_text("4", timeout=10000)
    await eventually(lambda: proxy.streams_opened >= 2, what="a second stream")
    [live] = await anotify(bob, "after the drop")
    await expect(badge).to_have_text("5")
    # Every notification once, in order: none lost in the drop, none twice.
    assert await page.evaluate("window.got") == [first.pk, *missed, live.pk]
    await context.close()
