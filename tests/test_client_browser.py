"""livebell.js in a real Chromium, against a real server: what it does when the
session behind its socket ends."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from asgiref.sync import sync_to_async

from tests.conftest import session_cookie

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


async def open_client_page(browser: Any, base: str, user: Any) -> tuple[Any, list[str]]:
    """The test page with livebell.js, logged in as ``user``; and the sockets it opens."""
    context = await browser.new_context()
    name, value = (await sync_to_async(session_cookie)(user)).split("=", 1)
    await context.add_cookies([{"name": name, "value": value, "url": base}])
    page = await context.new_page()
    sockets: list[str] = []
    page.on("websocket", lambda socket: sockets.append(socket.url))
    await page.goto(base + "/client/")
    return page, sockets


POST_FORM = """async (path) => {
  const token = document.querySelector('meta[name="csrf-token"]').content;
  const body = new URLSearchParams({csrfmiddlewaretoken: token});
  const response = await fetch(path, {method: "POST", body, redirect: "manual"});
  return response.type === "opaqueredirect" ? 302 : response.status;
}"""


async def test_logging_out_stops_the_client_as_unauthenticated(
    live_server_url: str, browser: Any, amake_user: Any
) -> None:
    from playwright.async_api import expect

    bob = await amake_user("bob")
    page, sockets = await open_client_page(browser, live_server_url, bob)
    state = page.locator("#state")
    await expect(state).to_have_attribute("data-state", "open")

    assert await page.evaluate(POST_FORM, "/accounts/logout/") == 302
    await expect(state).to_have_attribute("data-state", "unauthenticated", timeout=1000)
    closes = await page.evaluate("events.filter(e => e.type === 'close').map(e => e.frame.code)")
    assert closes == [4401]
    # The socket had been open: the session ended while the page was up.
    assert await page.evaluate("bell.sessionEnded") is True
    # It does not try again: still the one socket it opened, two seconds later.
    await asyncio.sleep(2)
    assert len(sockets) == 1, sockets
    await page.context.close()


async def test_a_socket_refused_from_the_start_is_not_a_session_that_ended(
    live_server_url: str, browser: Any
) -> None:
    """No session at all: 4401 on the first connect, and ``sessionEnded`` stays false
    (the widget shows no "you signed out in another tab" banner for it)."""
    from playwright.async_api import expect

    page = await (await browser.new_context()).new_page()
    await page.goto(live_server_url + "/client/")
    await expect(page.locator("#state")).to_have_attribute("data-state", "unauthenticated")
    assert await page.evaluate("bell.sessionEnded") is False
    await page.context.close()


async def test_a_re_keyed_session_makes_the_client_reconnect_with_the_new_cookie(
    live_server_url: str, browser: Any, amake_user: Any
) -> None:
    """Changing the password in this browser keeps it logged in under a new session key:
    the socket is closed with 4001 and the client reconnects, authenticated."""
    from playwright.async_api import expect

    bob = await amake_user("bob")
    page, sockets = await open_client_page(browser, live_server_url, bob)
    state = page.locator("#state")
    await expect(state).to_have_attribute("data-state", "open")

    status = await page.evaluate(
        """async () => {
          const token = document.querySelector('meta[name="csrf-token"]').content;
          const body = new URLSearchParams({csrfmiddlewaretoken: token, old_password: "pw",
                                           new_password1: "n3w pw!", new_password2: "n3w pw!"});
          const r = await fetch("/accounts/password_change/", {method: "POST", body,
                                                               redirect: "manual"});
          return r.type === "opaqueredirect" ? 302 : r.status;
        }"""
    )
    assert status == 302
    await page.wait_for_function("events.some(e => e.type === 'close' && e.frame.code === 4001)")
    await expect(state).to_have_attribute("data-state", "open", timeout=3000)
    assert len(sockets) == 2
    await page.context.close()
