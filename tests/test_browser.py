"""The demo in a real Chromium: bob's open page shows alice's notification live."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.conftest import service_missing

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHROMIUM = os.environ.get("LIVEBELL_CHROMIUM", "/usr/bin/chromium")
# Flags for a root, headless, offline machine (no sandbox, no background fetches).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    if not os.path.exists(CHROMIUM):
        service_missing(f"Chromium at {CHROMIUM}")
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        await browser.close()


async def log_in(browser: Any, base: str, username: str) -> Any:
    page = await (await browser.new_context()).new_page()
    await page.goto(base + "/")
    assert "/accounts/login/" in page.url  # anonymous users are sent to log in
    await page.fill("#id_username", username)
    await page.fill("#id_password", "pw")
    await page.click("button[type=submit]")
    await page.wait_for_url(base + "/")
    return page


async def test_bob_sees_alices_notification_without_reloading(
    live_server_url: str, browser: Any, amake_user: Any
) -> None:
    from playwright.async_api import expect

    await amake_user("alice"), await amake_user("bob"), await amake_user("carol")
    bob = await log_in(browser, live_server_url, "bob")
    carol = await log_in(browser, live_server_url, "carol")
    for page in (bob, carol):
        await expect(page.locator("#socket-state")).to_have_attribute("data-state", "open")
    await expect(bob.locator("#unread-count")).to_have_text("0")

    alice = await log_in(browser, live_server_url, "alice")
    await alice.select_option("#id_recipient", label="bob")
    await alice.fill("#id_verb", "liked your photo")
    await alice.click("#send-form button[type=submit]")
    await expect(alice.locator(".messages")).to_contain_text("Sent to bob")

    # Bob's page was never reloaded: the socket delivered it.
    first = bob.locator("#notifications li").first
    await expect(first).to_contain_text("alice liked your photo", timeout=2000)
    await expect(bob.locator("#unread-count")).to_have_text("1")
    await bob.screenshot(path=os.environ.get("LIVEBELL_SCREENSHOT", "/tmp/livebell-bob.png"))
    # Carol's page got nothing.
    await expect(carol.locator("#notifications li")).to_have_text(["Nothing yet."])
