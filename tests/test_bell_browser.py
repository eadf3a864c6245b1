"""The bell in the demo, in a real Chromium, against the demo served as a user serves it.

Each test runs its own demo site (migrated, seeded, uvicorn, a private Redis); other
users act through the site's pages or through a second process (``manage.py shell``,
through Redis), as they would in production.
"""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

import pytest

from tests.demo_site import DemoSite, log_in
from tests.processes import eventually

pytestmark = [pytest.mark.browser]

# Sent from another process than the server, through the demo's Redis.
NOTIFY_BOB = """
from django.contrib.auth import get_user_model
from livebell import notify
users = get_user_model().objects
for verb in {verbs!r}:
    [row] = notify(users.get(username="bob"), verb, actor=users.get(username="carol"))
    print(row.pk)
"""

# Five notifications in one transaction: their pushes leave together, at its commit.
STORM = """
from django.contrib.auth import get_user_model
from django.db import transaction
from livebell import notify
users = get_user_model().objects
with transaction.atomic():
    for index in range(5):
        notify(users.get(username="bob"), f"storm {index}", actor=users.get(username="carol"))
"""

BOB_QUESTION = "How do I push a notification to a single user with Django Channels?"


def client_of(page: Any, expression: str) -> Any:
    """Evaluate ``expression`` with ``bell`` bound to the page's livebell client."""
    return page.evaluate(
        f"(() => {{ const bell = document.querySelector('[data-livebell]').livebell.bell;"
        f" return {expression}; }})()"
    )


async def bell_open(page: Any) -> None:
    from playwright.async_api import expect

    await expect(page.locator(".livebell")).to_have_attribute("data-state", "open")


async def test_alices_answer_reaches_bobs_bell_and_a_click_opens_it_read(
    demo_site: DemoSite, browser: Any
) -> None:
    from playwright.async_api import expect

    bob = await log_in(browser, demo_site.url, "bob")
    await bell_open(bob)
    badge = bob.locator(".lb-badge")
    before = int(await badge.text_content() or 0)

    alice = await log_in(browser, demo_site.url, "alice")
    await alice.get_by_role("link", name=BOB_QUESTION).click()
    await alice.fill("#id_body", "Send to the user's group after commit.")
    await alice.click("#answer-form button[type=submit]")
    await alice.wait_for_url("**/questions/*/#answer-*")  # the answer is stored
    started = time.monotonic()

    # Within a second, without a reload: the badge, the toast, the title.
    await expect(badge).to_have_text(str(before + 1), timeout=1000)
    toast = bob.locator(".lb-toast")
    await expect(toast).to_contain_text("alice answered your question", timeout=1000)
    assert time.monotonic() - started < 1.0
    await expect(bob).to_have_title(f"({before + 1}) Questions · Wenda")
    await expect(bob.locator(".lb-announcer")).to_contain_text("alice answered your question")

    # A click on the toast opens the answer, through go/, which marks it read.
    answer_url = alice.url
    await toast.locator(".lb-toast-body").click()
    await bob.wait_for_url(answer_url)
    await bell_open(bob)
    if before:
        await expect(bob.locator(".lb-badge")).to_have_text(str(before))
    else:
        await expect(bob.locator(".lb-badge")).to_be_hidden()
    assert int(await bob.locator(".livebell").get_attribute("data-unread") or 0) == before
    await bob.locator(".lb-bell").click()
    await bob.locator(".lb-tab[data-tab=all]").click()
    newest = bob.locator(".lb-item").first
    await expect(newest).to_contain_text("alice answered your question")
    await expect(newest).not_to_have_class("lb-item lb-unread")


async def test_two_tabs_share_one_socket_and_stay_in_step(
    demo_site: DemoSite, browser: Any
) -> None:
    from playwright.async_api import expect

    tab1 = await log_in(browser, demo_site.url, "bob")
    tab2 = await tab1.context.new_page()  # same browser, same session: a second tab
    await tab2.goto(demo_site.url + "/questions/1/")
    for tab in (tab1, tab2):
        await bell_open(tab)
    # The server has one socket for the two tabs, and one tab leads.
    await asyncio.sleep(0.5)
    assert demo_site.open_sockets() == 1, demo_site.log.read_text()
    assert [await client_of(t, "bell.isLeader") for t in (tab1, tab2)].count(True) == 1

    # A notification reaches both tabs: badge, toast and list.
    start = int(await tab1.locator(".lb-badge").text_content() or 0)
    await tab2.locator(".lb-bell").click()
    demo_site.shell(NOTIFY_BOB.format(verbs=["mentioned you"]))
    for tab in (tab1, tab2):
        await expect(tab.locator(".lb-badge")).to_have_text(str(start + 1))
        await expect(tab.locator(".lb-toast")).to_contain_text("carol mentioned you")
    first = tab2.locator(".lb-item").first
    await expect(first).to_contain_text("carol mentioned you")

    # Marked read in one tab: the other's badge and list follow.
    await first.hover()
    await first.locator(".lb-toggle").click()
    await expect(tab1.locator(".lb-badge")).to_have_text(str(start))
    await tab1.locator(".lb-bell").click()
    await expect(tab1.locator(".lb-item", has_text="carol mentioned you")).to_have_count(0)

    # Mark all as read in one tab: every badge goes to 0 and the title loses its count.
    await tab1.locator(".lb-mark-all").click()
    for tab in (tab1, tab2):
        await expect(tab.locator(".lb-badge")).to_be_hidden()
        await expect(tab).not_to_have_title(re.compile(r"^\("))
    await expect(tab1.locator(".lb-empty")).to_contain_text("You’re all caught up")
    assert demo_site.open_sockets() == 1

    # A storm: five notifications committed at once make one toast per tab, not five.
    demo_site.shell(STORM)
    for tab in (tab1, tab2):
        await expect(tab.locator(".lb-toast", has_text="5 new notifications")).to_have_count(1)
        await expect(tab.locator(".lb-toast", has_text="storm")).to_have_count(0)
        await expect(tab.locator(".lb-badge")).to_have_text("5")


async def test_the_leader_tab_closes_and_the_other_takes_over_with_nothing_missed(
    demo_site: DemoSite, browser: Any
) -> None:
    from playwright.async_api import expect

    tab1 = await log_in(browser, demo_site.url, "bob")
    await bell_open(tab1)
    tab2 = await tab1.context.new_page()
    await tab2.goto(demo_site.url + "/")
    await bell_open(tab2)
    assert await client_of(tab1, "bell.isLeader") is True  # the first tab leads
    assert await client_of(tab2, "bell.isLeader") is False
    await tab2.locator(".lb-bell").click()
    await tab2.locator(".lb-tab[data-tab=all]").click()
    await expect(tab2.locator(".lb-item")).not_to_have_count(0)

    # The leader goes; notifications are sent while the other tab takes the lock.
    await tab1.close()
    ids = demo_site.shell(NOTIFY_BOB.format(verbs=["one", "two", "three"])).split()
    await expect(tab2.locator(".livebell")).to_have_attribute("data-state", "open")
    assert await client_of(tab2, "bell.isLeader") is True
    for verb in ("one", "two", "three"):
        await expect(tab2.locator(".lb-item", has_text=f"carol {verb}")).to_have_count(1)
    # Each exactly once, newest first, and the server had one socket at a time.
    shown = await tab2.locator(".lb-item").evaluate_all("items => items.map(i => i.dataset.id)")
    assert shown[:3] == ids[::-1]
    assert len(shown) == len(set(shown))
    # The closed tab's socket is gone; the new leader's is the one the server has.
    await eventually(lambda: demo_site.open_sockets() == 1, 5, "one socket")
    # The new leader resumed from what it had seen.
    assert demo_site.socket_urls()[-1].startswith("/ws/notifications/?last_id=")


async def test_a_server_restart_catches_up_with_no_duplicate(
    demo_site: DemoSite, browser: Any
) -> None:
    from playwright.async_api import expect

    bob = await log_in(browser, demo_site.url, "bob")
    await bell_open(bob)
    await bob.locator(".lb-bell").click()
    await bob.locator(".lb-tab[data-tab=all]").click()
    await expect(bob.locator(".lb-item")).not_to_have_count(0)
    count = int(await bob.locator(".lb-badge").text_content() or 0)

    demo_site.stop()  # SIGTERM: uvicorn closes the socket with 1012
    await expect(bob.locator(".livebell")).to_have_attribute("data-state", "reconnecting")
    await expect(bob.locator(".lb-status")).to_have_text("Reconnecting…")
    [missed] = demo_site.shell(NOTIFY_BOB.format(verbs=["sent while down"])).split()
    demo_site.start()

    await expect(bob.locator(".livebell")).to_have_attribute("data-state", "open", timeout=15000)
    item = bob.locator(f'.lb-item[data-id="{missed}"]')
    await expect(item).to_have_count(1)
    await expect(item).to_contain_text("carol sent while down")
    await expect(bob.locator(".lb-badge")).to_have_text(str(count + 1))
    await expect(bob.locator(".lb-toast", has_text="sent while down")).to_have_count(1)
    await asyncio.sleep(1)  # the list reloads after the reconnect: still once
    await expect(item).to_have_count(1)
    shown = await bob.locator(".lb-item").evaluate_all("items => items.map(i => i.dataset.id)")
    assert len(shown) == len(set(shown))
    assert demo_site.socket_urls()[-1].startswith("/ws/notifications/?last_id=")


async def test_logging_out_in_one_tab_signs_the_other_out(
    demo_site: DemoSite, browser: Any
) -> None:
    from playwright.async_api import expect

    tab1 = await log_in(browser, demo_site.url, "bob")
    tab2 = await tab1.context.new_page()
    await tab2.goto(demo_site.url + "/")
    for tab in (tab1, tab2):
        await bell_open(tab)
    sockets_before = len(demo_site.socket_urls())

    await tab1.get_by_role("button", name="Log out").click()
    await tab1.wait_for_url("**/accounts/login/")
    await expect(tab2.locator(".livebell")).to_have_attribute("data-state", "unauthenticated")
    await expect(tab2.locator(".lb-status")).to_have_text("You signed out — log in again")
    await expect(tab2.locator(".lb-badge")).to_be_hidden()
    await tab2.locator(".lb-bell").click()
    await expect(tab2.locator(".lb-empty")).to_contain_text("You signed out — log in again")
    await expect(tab2.locator(".lb-empty a")).to_have_attribute("href", "/accounts/login/?next=%2F")
    await expect(tab2.locator(".lb-item")).to_have_count(0)
    # No retry: no new socket two seconds later.
    await asyncio.sleep(2)
    assert len(demo_site.socket_urls()) == sockets_before
    await eventually(lambda: demo_site.open_sockets() == 0, 5, "no socket")


async def test_a_chinese_browser_gets_the_site_and_the_bell_in_chinese(
    demo_site: DemoSite, browser: Any
) -> None:
    from playwright.async_api import expect

    carol = await log_in(browser, demo_site.url, "carol", locale="zh-CN")
    await expect(carol.locator("html")).to_have_attribute("lang", "zh-hans")
    await bell_open(carol)
    button = carol.locator(".lb-bell")
    await expect(button).to_have_attribute("aria-label", "6 条未读通知")
    await button.click()
    await expect(carol.locator(".lb-heading")).to_have_text("通知")
    await expect(carol.locator(".lb-mark-all")).to_have_text("全部标为已读")
    await expect(carol.locator(".lb-tab[data-tab=unread]")).to_have_text("未读")
    # The sentences are rendered in the reader's language (the types' zh-hans templates).
    await expect(carol.locator(".lb-item").first).to_contain_text(
        "alice 发布了公告：“Welcome to Wenda, the livebell demo”"
    )
    await expect(carol.locator(".lb-time").first).to_contain_text("分钟前")
    # And a new one, from bob's upvote, arrives in Chinese too, with a Chinese toast.
    bob = await log_in(browser, demo_site.url, "bob")
    await bob.goto(demo_site.url + "/questions/1/")
    await bob.locator(".vote").first.click()
    toast = carol.locator(".lb-toast")
    await expect(toast).to_contain_text("bob ")
    await expect(toast).to_contain_text("赞同了你在“How do I push a notification")
    await expect(carol.locator(".lb-announcer")).to_contain_text("新通知：")


async def test_axe_finds_no_serious_accessibility_violation_in_the_widget(
    demo_site: DemoSite, browser: Any
) -> None:
    from axe_playwright_python.async_playwright import Axe
    from playwright.async_api import expect

    axe = Axe()
    bob = await log_in(browser, demo_site.url, "bob")
    await bell_open(bob)
    await bob.locator(".lb-bell").click()
    await expect(bob.locator(".lb-item")).not_to_have_count(0)
    results = {"popover": await axe.run(bob, context=".livebell")}
    # With a toast on screen.
    demo_site.shell(NOTIFY_BOB.format(verbs=["mentioned you"]))
    await expect(bob.locator(".lb-toast")).to_have_count(1)
    await asyncio.sleep(0.5)  # its 0.2 s fade-in over: axe measures the colors as seen
    results["toast"] = await axe.run(bob, context=".livebell")
    # The full page, with its filters.
    await bob.goto(demo_site.url + "/notifications/")
    await expect(bob.locator(".livebell-page .lb-item")).not_to_have_count(0)
    results["page"] = await axe.run(bob, context=".livebell-page")
    for name, result in results.items():
        bad = [
            (violation["id"], violation["impact"], [node["target"] for node in violation["nodes"]])
            for violation in result.response["violations"]
            if violation["impact"] in ("serious", "critical")
        ]
        assert bad == [], f"{name}: {bad}"
