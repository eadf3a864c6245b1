"""The bell in a real Chromium behind a proxy that refuses WebSocket upgrades: the
client falls back to the event stream by itself, and a dropped stream resumes with
no gap."""

from __future__ import annotations

import asyncio
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


PAGE_CLIENT = "window.bell"
NOTIFIED = (
    "window.events.filter((e) => e.type === 'notification').map((e) => e.frame.notification.id)"
)


async def client_page(context: Any, proxy: RefusingProxy, query: str = "") -> Any:
    """The JS client's test page through the proxy, once its connection is open."""
    from playwright.async_api import expect

    page = await context.new_page()
    await page.goto(f"{proxy.url}/client/{query}")
    await expect(page.locator("#state")).to_have_attribute("data-state", "open")
    return page


async def signed_in_context(browser: Any, proxy: RefusingProxy, user: Any) -> Any:
    context = await browser.new_context()
    name, value = (await sync_to_async(session_cookie)(user)).split("=", 1)
    await context.add_cookies([{"name": name, "value": value, "url": proxy.url}])
    return context


async def test_when_the_proxy_lets_websockets_through_the_client_switches_back(
    proxy: RefusingProxy, browser: Any, amake_user: Any
) -> None:
    """On the stream, the client tries the socket every ``socketRetryMs``; once the
    proxy passes upgrades it goes back to the socket, resuming from the stream's last
    id, while notifications keep coming: none lost, none twice."""
    bob = await amake_user("bob")
    context = await signed_in_context(browser, proxy, bob)
    page = await client_page(context, proxy, "?socketRetryMs=500")
    assert await page.evaluate(f"{PAGE_CLIENT}.transport") == "stream"
    assert proxy.passed_upgrades == 0 and proxy.streams_opened == 1
    pushed = [(await anotify(bob, f"on the stream {i}"))[0].pk for i in range(3)]

    async def transport() -> str:
        return str(await page.evaluate(f"{PAGE_CLIENT}.transport"))

    proxy.allow_upgrades = True
    # Notifications go on through the switch: the last stream event, the resume.
    for i in range(40):
        pushed.append((await anotify(bob, f"through the switch {i}"))[0].pk)
        await asyncio.sleep(0.05)
        if await transport() == "socket" and i >= 20:
            break
    assert await transport() == "socket"
    assert proxy.passed_upgrades >= 2  # the probe, then the socket itself
    pushed += [(await anotify(bob, f"on the socket {i}"))[0].pk for i in range(3)]
    await eventually_in_page(page, f"{NOTIFIED}.length >= {len(pushed)}")
    await asyncio.sleep(0.5)  # room for a duplicate to arrive
    assert await page.evaluate(NOTIFIED) == pushed
    # The stream was let go: no further stream opened, and the socket stays.
    assert proxy.streams_opened == 1 and await transport() == "socket"
    await context.close()


async def test_two_tabs_on_the_stream_share_the_leaders_one_stream(
    proxy: RefusingProxy, browser: Any, amake_user: Any
) -> None:
    bob = await amake_user("bob")
    context = await signed_in_context(browser, proxy, bob)
    leader = await client_page(context, proxy)
    assert await leader.evaluate(f"{PAGE_CLIENT}.transport") == "stream"
    refused = proxy.refused_upgrades
    follower = await client_page(context, proxy)
    assert await leader.evaluate(f"{PAGE_CLIENT}.isLeader") is True
    assert await follower.evaluate(f"{PAGE_CLIENT}.isLeader") is False
    assert await follower.evaluate(f"{PAGE_CLIENT}.transport") == "stream"
    pushed = [(await anotify(bob, f"to both tabs {i}"))[0].pk for i in range(3)]
    for page in (leader, follower):
        await eventually_in_page(page, f"{NOTIFIED}.length >= 3")
    await asyncio.sleep(0.5)
    assert await leader.evaluate(NOTIFIED) == pushed
    assert await follower.evaluate(NOTIFIED) == pushed
    # One stream, the leader's: the follower opened none and tried no socket.
    assert proxy.streams_opened == 1 and proxy.refused_upgrades == refused
    await context.close()


async def eventually_in_page(page: Any, condition: str, timeout_ms: int = 10000) -> None:
    await page.wait_for_function(condition, timeout=timeout_ms)
