"""The demo in a real Chromium: bob's open page shows alice's notification live."""

from __future__ import annotations

import os
from typing import Any

import pytest

from tests.demo_site import DemoSite, log_in

pytestmark = [pytest.mark.browser]


async def test_bob_sees_alices_notification_without_reloading(
    demo_site: DemoSite, browser: Any
) -> None:
    from playwright.async_api import expect

    bob = await log_in(browser, demo_site.url, "bob")
    carol = await log_in(browser, demo_site.url, "carol")
    for page in (bob, carol):
        await expect(page.locator("#socket-state")).to_have_attribute("data-state", "open")
    await expect(bob.locator("#unread-count")).to_have_text("0")

    alice = await log_in(browser, demo_site.url, "alice")
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
