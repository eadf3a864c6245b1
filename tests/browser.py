"""A real Chromium for the browser tests: Debian's, driven by Playwright."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.conftest import service_missing

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
    """A headless Chromium; missing, it skips locally and fails in CI."""
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
    """A new browser context (its own cookies) logged in as ``username``, on the home page."""
    page = await (await browser.new_context()).new_page()
    await page.goto(base + "/")
    assert "/accounts/login/" in page.url  # anonymous users are sent to log in
    await page.fill("#id_username", username)
    await page.fill("#id_password", "pw")
    await page.click("button[type=submit]")
    await page.wait_for_url(base + "/")
    return page
