"""Screenshots of the demo for the README: ``python -m tests.screenshots docs/img``.

Serves the demo as the browser tests do (tests.demo_site), logs in, opens the bell
and writes PNGs: desktop light and dark, a 390 px phone, and zh-hans.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

from tests.browser import CHROMIUM, CHROMIUM_ARGS
from tests.demo_site import DemoSite, log_in
from tests.processes import RedisServer

__all__ = ["SHOTS", "main"]

DESKTOP = {"viewport": {"width": 1280, "height": 760}}
PHONE = {
    "viewport": {"width": 390, "height": 780},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
}
# file name -> (user, browser context options)
SHOTS = {
    "bell-light.png": ("bob", {**DESKTOP, "color_scheme": "light"}),
    "bell-dark.png": ("bob", {**DESKTOP, "color_scheme": "dark"}),
    "bell-mobile.png": ("bob", {**PHONE, "color_scheme": "light"}),
    "bell-zh-hans.png": ("carol", {**DESKTOP, "color_scheme": "light", "locale": "zh-CN"}),
}

NOTIFY = """
from django.contrib.auth import get_user_model
from demo import actions
users = get_user_model().objects
bob, alice = users.get(username="bob"), users.get(username="alice")
actions.follow_user(alice, bob)
"""


async def main(directory: Path) -> None:
    from playwright.async_api import async_playwright

    directory.mkdir(parents=True, exist_ok=True)
    redis = RedisServer()
    redis.start()
    site = DemoSite(Path(tempfile.mkdtemp()), redis)
    try:
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
            )
            for name, (user, options) in SHOTS.items():
                page = await log_in(browser, site.url, user, **options)
                await page.wait_for_selector(".livebell[data-state=open]")
                if name == "bell-light.png":
                    site.shell(NOTIFY)  # a toast, as it appears
                    await page.wait_for_selector(".lb-toast")
                await page.click(".lb-bell")
                await page.wait_for_selector(".lb-item")
                await page.locator(".lb-item").nth(1).hover()
                await page.wait_for_timeout(700)
                await page.screenshot(path=str(directory / name))
                await page.context.close()
            page = await log_in(browser, site.url, "bob", **DESKTOP)
            await page.goto(site.url + "/notifications/")
            await page.wait_for_selector(".livebell-page .lb-item")
            await page.wait_for_timeout(500)
            await page.screenshot(path=str(directory / "page.png"))
            await browser.close()
    finally:
        site.stop()
        redis.kill()


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/img")))
