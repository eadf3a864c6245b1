"""Screenshots of livebell's email for the docs: ``python -m tests.email_screenshots docs/img``.

Builds the email of three unread notifications for bob (English) and carol (zh-hans)
with :func:`livebell.reach.email.build_message` in a throwaway SQLite database, and
shoots each HTML part in Chromium (``email-en.png``, ``email-zh-hans.png``). Run it
from a checkout with ``PYTHONPATH=src``, with a CJK font installed (Debian:
fonts-noto-cjk or fonts-wqy-microhei). ``--locale DIR`` adds a locale directory
(``DIR/zh_Hans/LC_MESSAGES/django.mo``) for strings not yet in livebell's catalog.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
from pathlib import Path
from typing import Any

from tests.browser import CHROMIUM, CHROMIUM_ARGS

__all__ = ["main"]


def build(locale: str | None) -> dict[str, str]:
    """The HTML part of bob's and carol's email, by file name."""
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
    os.environ["DATABASE_URL"] = f"sqlite:///{tempfile.mkdtemp()}/email.sqlite3"
    import django
    from django.conf import settings

    if locale:
        settings.LOCALE_PATHS = [locale]
    settings.LIVEBELL = {
        **settings.LIVEBELL,
        "SITE_URL": "https://wenda.example.com",
        "EMAIL_LANGUAGE": lambda user: "zh-hans" if user.username == "carol" else "en",
    }
    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from livebell import notify
    from livebell.models import Notification
    from livebell.reach.email import build_message
    from tests.testapp.models import Post

    call_command("migrate", run_syncdb=True, verbosity=0)
    users = get_user_model().objects
    alice = users.create_user("alice")
    dave = users.create_user("dave")
    shots = {}
    for name, reader in (("email-en.png", "bob"), ("email-zh-hans.png", "carol")):
        user = users.create_user(reader, email=f"{reader}@example.com")
        first = Post.objects.create(title="How do I keep a sourdough starter alive?")
        second = Post.objects.create(title="Tea or coffee for a long night of code?")
        notify(user, type="post.commented", actor=alice, target=first)
        notify(user, type="post.liked", actor=dave, target=second)
        notify(user, type="post.liked", actor=alice, target=second)  # merges: "and 1 other"
        notify(user, type="post.commented", actor=dave, target=second)
        rows = list(Notification.objects.for_user(user).with_related().order_by("-id"))
        shots[name] = build_message(user, rows).alternatives[0][0]  # type: ignore[attr-defined]
    return shots


async def shoot(shots: dict[str, str], directory: Path) -> None:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        page: Any = await browser.new_page(viewport={"width": 720, "height": 400})
        for name, html in shots.items():
            await page.set_content(html)
            await page.screenshot(path=str(directory / name), full_page=True)
        await browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.email_screenshots")
    parser.add_argument("directory", type=Path)
    parser.add_argument("--locale", help="an extra locale directory (LOCALE_PATHS)")
    options = parser.parse_args()
    asyncio.run(shoot(build(options.locale), options.directory))


if __name__ == "__main__":
    main()
