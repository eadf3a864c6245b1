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
