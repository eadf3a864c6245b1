"""Screenshots of the demo for the docs: ``python -m tests.screenshots docs/img``
(``… docs/img webpush``: only the bell's web push switch, docs/web-push.md).

Serves the demo as the browser tests do (tests.demo_site), logs in and writes PNGs:
the open bell (desktop light and dark, a 390 px phone, zh-hans), the empty state of a
new user (light, dark), the banner of a session ended in another tab (desktop, phone)
and the full page (English, zh-hans). Run it with ``PYTHONPATH=src`` from a checkout,
with a CJK font installed (Debian: fonts-noto-cjk), or Chinese shows as boxes.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path
from typing import Any

from tests.browser import CHROMIUM, CHROMIUM_ARGS
from tests.demo_site import DemoSite, log_in
from tests.processes import RedisServer

__all__ = ["EMPTY_SHOTS", "PAGE_SHOTS", "SHOTS", "SIGNED_OUT_SHOTS", "WEBPUSH_SHOTS", "main"]

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

# A new user, with nothing at all: the bell's empty state.
EMPTY_SHOTS = {
    "bell-empty.png": {**DESKTOP, "color_scheme": "light"},
    "bell-empty-dark.png": {**DESKTOP, "color_scheme": "dark"},
    "bell-empty-mobile.png": {**PHONE, "color_scheme": "light"},
    "bell-empty-zh-hans.png": {**DESKTOP, "color_scheme": "light", "locale": "zh-CN"},
}
# bob signs out in one tab; the other says so at the top of the page.
SIGNED_OUT_SHOTS = {
    "bell-signed-out.png": {**DESKTOP, "color_scheme": "light"},
    "bell-signed-out-dark.png": {**DESKTOP, "color_scheme": "dark"},
    "bell-signed-out-mobile.png": {**PHONE, "color_scheme": "light"},
    "bell-signed-out-zh-hans.png": {**DESKTOP, "color_scheme": "light", "locale": "zh-CN"},
}
# The full page (with the mouse away from it: its actions are always shown).
PAGE_SHOTS = {
    "page.png": ("bob", {**DESKTOP, "color_scheme": "light"}),
    "page-dark.png": ("bob", {**DESKTOP, "color_scheme": "dark"}),
    "page-mobile.png": ("bob", {**PHONE, "color_scheme": "light"}),
    "page-zh-hans.png": ("carol", {**DESKTOP, "color_scheme": "light", "locale": "zh-CN"}),
}

# The open bell with "Notify me on this device" (docs/web-push.md); the last one with
# the site's notifications blocked in the browser.
WEBPUSH_SHOTS = {
    "webpush-control.png": ("bob", {**DESKTOP, "color_scheme": "light"}),
    "webpush-control-dark.png": ("bob", {**DESKTOP, "color_scheme": "dark"}),
    "webpush-control-mobile.png": ("bob", {**PHONE, "color_scheme": "light"}),
    "webpush-control-zh-hans.png": (
        "carol",
        {**DESKTOP, "color_scheme": "light", "locale": "zh-CN"},
    ),
    "webpush-control-blocked.png": ("bob", {**DESKTOP, "color_scheme": "light"}),
}

NEW_USER = """
from django.contrib.auth import get_user_model
from demo.models import Profile
dave = get_user_model().objects.create_user("dave", password="livebell")
Profile.objects.create(user=dave)
"""

NOTIFY = """
from django.contrib.auth import get_user_model
from demo import actions
users = get_user_model().objects
bob, alice = users.get(username="bob"), users.get(username="alice")
actions.follow_user(alice, bob)
"""


async def webpush_shots(browser: Any, site: DemoSite, directory: Path) -> None:
    """The open bell with its web push switch, scrolled to the end of the list."""
    for name, (user, options) in WEBPUSH_SHOTS.items():
        page = await log_in(browser, site.url, user, **options)
        if name.endswith("-blocked.png"):
            target = await (await page.context.new_cdp_session(page)).send("Target.getTargetInfo")
            await (await browser.new_browser_cdp_session()).send(
                "Browser.setPermission",
                {
                    "permission": {"name": "notifications"},
                    "setting": "denied",
                    "origin": site.url,
                    "browserContextId": target["targetInfo"]["browserContextId"],
                },
            )
            await page.reload()
        await page.wait_for_selector(".livebell[data-state=open]")
        await page.click(".lb-bell")
        await page.wait_for_selector(".lb-item")
        await page.wait_for_selector(".lb-webpush:not([hidden])")
        await page.locator(".lb-webpush-switch").focus()
        await page.wait_for_timeout(500)
        await page.screenshot(path=str(directory / name))
        await page.context.close()


async def main(directory: Path, only: str | None = None) -> None:
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
            if only == "webpush":
                await webpush_shots(browser, site, directory)
                await browser.close()
                return
            await webpush_shots(browser, site, directory)
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
            site.shell(NEW_USER)
            for name, options in EMPTY_SHOTS.items():
                page = await log_in(browser, site.url, "dave", **options)
                await page.wait_for_selector(".livebell[data-state=open]")
                await page.click(".lb-bell")
                await page.wait_for_selector(".lb-popover .lb-empty:not([hidden])")
                await page.wait_for_timeout(300)
                await page.screenshot(path=str(directory / name))
                await page.context.close()
            for name, options in SIGNED_OUT_SHOTS.items():
                other = await log_in(browser, site.url, "bob", **options)
                page = await other.context.new_page()
                await page.goto(site.url + "/questions/1/")
                await page.wait_for_selector(".livebell[data-state=open]")
                # Log out in the first tab (its form: on a phone the button is not shown).
                await other.evaluate("document.querySelector('form[action$=\"logout/\"]').submit()")
                await page.wait_for_selector(".livebell-banner")
                await page.bring_to_front()
                await page.wait_for_timeout(300)
                await page.screenshot(path=str(directory / name))
                await page.context.close()
            for name, (user, options) in PAGE_SHOTS.items():
                page = await log_in(browser, site.url, user, **options)
                await page.goto(site.url + "/notifications/")
                await page.wait_for_selector(".livebell-page .lb-item")
                await page.wait_for_timeout(500)
                await page.screenshot(path=str(directory / name))
                await page.context.close()
            await browser.close()
    finally:
        site.stop()
        redis.kill()


if __name__ == "__main__":
    asyncio.run(
        main(
            Path(sys.argv[1] if len(sys.argv) > 1 else "docs/img"),
            sys.argv[2] if len(sys.argv) > 2 else None,
        )
    )
