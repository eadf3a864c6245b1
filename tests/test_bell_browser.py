"""The bell in the demo, in a real Chromium, against the demo served as a user serves it.

Each test runs its own demo site (migrated, seeded, uvicorn, a private Redis); other
users act through the site's pages or through a second process (``manage.py shell``,
through Redis), as they would in production.
"""

from __future__ import annotations

import asyncio
import json
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

# An outage's alerts: 200 notifications to bob in 2 s, each its own transaction.
OUTAGE = """
import time
from django.contrib.auth import get_user_model
from livebell import notify
users = get_user_model().objects
bob, carol = users.get(username="bob"), users.get(username="carol")
started = time.monotonic()
for index in range(200):
    notify(bob, f"alert {index}", actor=carol, level="error")
    time.sleep(max(0.0, started + (index + 1) * 0.01 - time.monotonic()))
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
    tab3 = await tab1.context.new_page()
    await tab3.goto(demo_site.url + "/notifications/")
    await bell_open(tab3)

    await tab1.get_by_role("button", name="Log out").click()
    await tab1.wait_for_url("**/accounts/login/")
    await expect(tab2.locator(".livebell")).to_have_attribute("data-state", "unauthenticated")
    await expect(tab3.locator(".livebell")).to_have_attribute("data-state", "unauthenticated")
    # Counted once every tab knows: when the signing-out tab closed before its own 4401
    # came, the tab taking over made one connect of its own to learn it (4401 too).
    sockets_before = len(demo_site.socket_urls())
    # Said where it is seen, as GitHub does: a banner at the top of the page, with Reload.
    banner = tab2.get_by_role("alert").filter(has_text="You signed out in another tab or window")
    await expect(banner).to_be_visible()
    await expect(banner.locator("p")).to_have_text(
        "You signed out in another tab or window. Reload to refresh your session."
    )
    assert (await banner.bounding_box() or {}).get("y") == 0  # at the top, not in the popover
    await expect(tab2.locator(".lb-status")).to_have_text("You signed out — log in again")
    await expect(tab2.locator(".lb-badge")).to_be_hidden()
    await tab2.locator(".lb-bell").click()
    await expect(tab2.locator(".lb-empty")).to_contain_text("You signed out — log in again")
    await expect(tab2.locator(".lb-empty a")).to_have_attribute("href", "/accounts/login/?next=%2F")
    await expect(tab2.locator(".lb-item")).to_have_count(0)
    # Dismissed, it is gone (and does not come back).
    await banner.get_by_role("button", name="Dismiss").click()
    await expect(tab2.locator(".livebell-banner")).to_have_count(0)
    # The full page's tab has it too; its Reload reloads, which here means logging in.
    await tab3.get_by_role("alert").get_by_role("button", name="Reload").click()
    await tab3.wait_for_url("**/accounts/login/?next=/notifications/")
    await expect(tab3.locator(".livebell-banner")).to_have_count(0)
    # No retry: no new socket two seconds later.
    await asyncio.sleep(2)
    assert len(demo_site.socket_urls()) == sockets_before
    await eventually(lambda: demo_site.open_sockets() == 0, 5, "no socket")


async def test_a_tab_that_takes_over_after_its_session_ended_says_signed_out(
    demo_site: DemoSite, browser: Any
) -> None:
    """The race behind a sign-out in the leading tab: that tab can close before its own
    4401 arrives, and the tab taking over then connects without a session. A follower
    that joined after the leader's catch-up saw no "synced" frame of its own, yet its
    page was served a session: its 4401 means "signed out", with the banner. Made
    deterministic here: the session is deleted on the server (no logout signal, so no
    socket is closed), then the leading tab closes."""
    from playwright.async_api import expect

    tab1 = await log_in(browser, demo_site.url, "bob")
    # The leader's catch-up done before the second tab joins.
    synced: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def on_frame(payload: Any) -> None:
        if '"synced"' in str(payload) and not synced.done():
            synced.set_result(None)

    tab1.on("websocket", lambda socket: socket.on("framereceived", on_frame))
    await tab1.reload()
    await asyncio.wait_for(synced, 10)
    tab2 = await tab1.context.new_page()
    await tab2.goto(demo_site.url + "/")
    await bell_open(tab2)
    demo_site.shell(
        "from django.contrib.sessions.models import Session; Session.objects.all().delete()"
    )
    await tab1.close()
    await expect(tab2.locator(".livebell")).to_have_attribute("data-state", "unauthenticated")
    await expect(
        tab2.get_by_role("alert").filter(has_text="You signed out in another tab or window")
    ).to_be_visible()


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


async def test_a_storm_of_200_in_2_seconds_is_one_toast_and_the_list_has_them(
    demo_site: DemoSite, browser: Any
) -> None:
    """The server sums the storm up (10 frames, then one burst frame); the widget shows
    one toast that counts them all, and its list, refetched, shows the newest."""
    from playwright.async_api import expect

    bob = await log_in(browser, demo_site.url, "bob")
    await bell_open(bob)
    frames: list[str] = []
    bob.on("websocket", lambda ws: ws.on("framereceived", lambda payload: frames.append(payload)))
    await bob.reload()
    await bell_open(bob)
    await asyncio.to_thread(demo_site.shell, OUTAGE)
    await expect(bob.locator(".lb-toast", has_text="200 new notifications")).to_have_count(
        1, timeout=5000
    )
    assert await bob.locator(".lb-toast").count() == 1
    await expect(bob.locator(".lb-badge")).to_have_text("99+")
    kinds = [json.loads(frame)["type"] for frame in frames]
    assert kinds.count("notification") == 10 and 1 <= kinds.count("burst") <= 2, kinds
    await bob.locator(".lb-bell").click()
    await expect(bob.locator(".lb-item").first).to_contain_text("alert 199")


# A new answer of bob's, upvoted by alice then by carol (a type that groups).
UPVOTE = """
from django.contrib.auth import get_user_model
from demo import actions
from demo.models import Answer, Question
users = get_user_model().objects
bob = users.get(username="bob")
if {first}:
    question = Question.objects.filter(author=users.get(username="alice")).first()
    actions.answer(bob, question, "Group the upvotes.")
answer = Answer.objects.filter(author=bob).latest("pk")
actions.upvote(users.get(username={voter!r}), answer)
"""


async def test_a_grouped_notification_updates_its_item_in_place_in_every_tab(
    demo_site: DemoSite, browser: Any
) -> None:
    from playwright.async_api import expect

    tab1 = await log_in(browser, demo_site.url, "bob")
    tab2 = await tab1.context.new_page()
    await tab2.goto(demo_site.url + "/")
    for tab in (tab1, tab2):
        await bell_open(tab)
        await tab.locator(".lb-bell").click()
    start = int(await tab1.locator(".livebell").get_attribute("data-unread") or 0)

    await asyncio.to_thread(demo_site.shell, UPVOTE.format(first=True, voter="alice"))
    for tab in (tab1, tab2):
        first = tab.locator(".lb-item").first
        await expect(first).to_contain_text("alice upvoted your answer")
        await expect(tab.locator(".lb-badge")).to_have_text(str(start + 1))
    first_id = await tab1.locator(".lb-item").first.get_attribute("data-id")

    await asyncio.to_thread(demo_site.shell, UPVOTE.format(first=False, voter="carol"))
    for tab in (tab1, tab2):
        # One item, replaced in place at the top; the count of unread is unchanged.
        await expect(tab.locator(".lb-item").first).to_contain_text(
            "carol and 1 other upvoted your answer"
        )
        await expect(tab.locator(f'.lb-item[data-id="{first_id}"]')).to_have_count(0)
        await expect(tab.locator(".lb-item", has_text="alice upvoted your answer")).to_have_count(0)
        await expect(tab.locator(".lb-item", has_text="and 1 other")).to_have_count(1)
        await expect(tab.locator(".lb-badge")).to_have_text(str(start + 1))


COUNT_BOBS = """
from django.contrib.auth import get_user_model
from livebell.models import Notification
bob = get_user_model().objects.get(username="bob")
print(Notification.objects.filter(recipient=bob, type={type!r}).count())
"""

ALICE_ANSWERS_BOB = """
from django.contrib.auth import get_user_model
from demo import actions
from demo.models import Question
users = get_user_model().objects
question = Question.objects.filter(author=users.get(username="bob")).first()
actions.answer(users.get(username="alice"), question, "Another answer.")
print(question.get_absolute_url())
"""


async def test_the_settings_page_turns_a_type_off_and_a_question_can_be_muted(
    demo_site: DemoSite, browser: Any
) -> None:
    from playwright.async_api import expect

    bob = await log_in(browser, demo_site.url, "bob")
    await bob.goto(demo_site.url + "/settings/notifications/")
    upvotes = bob.get_by_label("Upvotes of your answers: In the app")
    await expect(upvotes).to_be_checked()
    await upvotes.uncheck()
    await bob.get_by_role("button", name="Save").click()
    await expect(bob.locator(".messages")).to_contain_text("Your notification settings are saved")
    await expect(bob.get_by_label("Upvotes of your answers: In the app")).not_to_be_checked()
    await bob.screenshot(path=str(demo_site.directory / "settings.png"), full_page=True)

    before = int(demo_site.shell(COUNT_BOBS.format(type="answer.upvoted")))
    demo_site.shell(UPVOTE.format(first=True, voter="alice"))
    assert int(demo_site.shell(COUNT_BOBS.format(type="answer.upvoted"))) == before

    # Mute bob's question: alice's new answer to it notifies him no more.
    url = demo_site.shell(ALICE_ANSWERS_BOB).strip()
    answers = int(demo_site.shell(COUNT_BOBS.format(type="answer.created")))
    await bob.goto(demo_site.url + url)
    await bob.get_by_role("button", name="Mute notifications").click()
    await expect(bob.get_by_role("button", name="Unmute notifications")).to_be_visible()
    demo_site.shell(ALICE_ANSWERS_BOB)
    assert int(demo_site.shell(COUNT_BOBS.format(type="answer.created"))) == answers
    await bob.goto(demo_site.url + "/settings/notifications/")
    await expect(bob.locator("#muted .muted-item")).to_have_count(1)


@pytest.mark.parametrize("path", ["/", "/notifications/", "/settings/notifications/"])
async def test_the_pages_and_the_open_bell_fit_a_360_px_phone(
    demo_site: DemoSite, browser: Any, path: str
) -> None:
    """Nothing wider than the screen: no sideways scrolling, the popover inside it."""
    from playwright.async_api import expect

    context = await browser.new_context(
        viewport={"width": 360, "height": 740}, is_mobile=True, has_touch=True
    )
    page = await context.new_page()
    await page.goto(demo_site.url + "/accounts/login/")
    await page.fill("#id_username", "bob")
    await page.fill("#id_password", "livebell")
    await page.click("form:has(#id_username) button[type=submit]")
    await page.wait_for_url(demo_site.url + "/")
    await page.goto(demo_site.url + path)
    await bell_open(page)
    if path == "/":
        await page.locator(".lb-bell").click()
        await expect(page.locator(".lb-popover")).to_be_visible()
    # On a phone the layout viewport grows to fit what overflows: compare with 360 itself.
    widths = await page.evaluate(
        "[document.documentElement.scrollWidth, window.innerWidth,"
        " Math.max(...[...document.querySelectorAll('header *, .lb-popover, main')]"
        ".map(e => e.getBoundingClientRect().right))]"
    )
    assert max(widths) <= 360, widths
    await context.close()


NEW_USER = """
from django.contrib.auth import get_user_model
from demo.models import Profile
dave = get_user_model().objects.create_user("dave", password="livebell")
Profile.objects.create(user=dave)
"""


async def test_a_new_user_sees_the_empty_state_at_once(demo_site: DemoSite, browser: Any) -> None:
    """Nothing unread, nothing at all: the popover says so when it opens, in both tabs,
    and so does the full page (it used to stay blank until something was marked read)."""
    from playwright.async_api import expect

    demo_site.shell(NEW_USER)
    dave = await log_in(browser, demo_site.url, "dave")
    await bell_open(dave)
    await dave.locator(".lb-bell").click()
    empty = dave.locator(".lb-popover .lb-empty")
    await expect(empty).to_be_visible()
    await expect(empty).to_contain_text("You’re all caught up")
    await expect(empty).to_contain_text("New notifications will appear here.")
    await dave.locator(".lb-tab[data-tab=all]").click()
    await expect(empty).to_contain_text("No notifications yet")
    await expect(dave.locator(".lb-mark-all")).to_be_disabled()
    await dave.goto(demo_site.url + "/notifications/")
    await expect(dave.locator(".livebell-page .lb-empty")).to_be_visible()
    await expect(dave.locator(".livebell-page .lb-empty")).to_contain_text("Nothing here")


# Notifications 0.4 s apart, so that each is its own toast (a burst within 250 ms is one).
SPACED = """
import time
from django.contrib.auth import get_user_model
from livebell import notify
users = get_user_model().objects
for verb in {verbs!r}:
    notify(users.get(username="bob"), verb, actor=users.get(username="carol"))
    time.sleep(0.4)
"""


async def test_stacked_toasts_have_their_close_buttons_in_one_place(
    demo_site: DemoSite, browser: Any
) -> None:
    from playwright.async_api import expect

    bob = await log_in(browser, demo_site.url, "bob")
    await bell_open(bob)
    verbs = [
        "liked it",
        "wrote a long comment on your answer, long enough to wrap over two or three lines",
        "mentioned you",
    ]
    await asyncio.to_thread(demo_site.shell, SPACED.format(verbs=verbs))
    await expect(bob.locator(".lb-toast")).to_have_count(3)
    await asyncio.sleep(0.5)  # their fade-in over
    # Each close button's offset from its toast's top right corner, and its size.
    places = await bob.locator(".lb-toast").evaluate_all(
        """toasts => toasts.map(toast => {
          const box = toast.getBoundingClientRect();
          const close = toast.querySelector(".lb-toast-close").getBoundingClientRect();
          return [box.right - close.right, close.top - box.top, close.width, close.height];
        })"""
    )
    heights = await bob.locator(".lb-toast").evaluate_all(
        "toasts => toasts.map(t => t.getBoundingClientRect().height)"
    )
    assert max(heights) > min(heights) + 10, heights  # one toast really is taller
    assert places[0] == places[1] == places[2], places
    assert places[0][2] >= 32 and places[0][3] >= 32, places  # a target a finger can hit


@pytest.mark.parametrize("width", [1280, 390])
async def test_the_full_page_shows_every_unread_dot_and_a_one_line_level_label(
    demo_site: DemoSite, browser: Any, width: int
) -> None:
    """The page's always-shown actions sit beside the unread dot, not over it; and its
    level filter's label stays on one line, in Chinese too ("级别")."""
    from playwright.async_api import expect

    viewport = {"viewport": {"width": width, "height": 800}}
    bob = await log_in(browser, demo_site.url, "bob", **viewport)
    await bob.goto(demo_site.url + "/notifications/")
    await expect(bob.locator(".livebell-page .lb-item.lb-unread")).not_to_have_count(0)
    await bob.mouse.move(0, 0)
    # No unread dot shares a pixel with its item's actions (which are always shown), even
    # on a site with tighter lines than the demo's, where one-line items are shortest.
    await bob.add_style_tag(content=".livebell-page { line-height: 1.2; }")
    overlaps = await bob.locator(".livebell-page .lb-item.lb-unread").evaluate_all(
        """items => items.map(item => {
          const dot = item.querySelector(".lb-dot").getBoundingClientRect();
          const actions = item.querySelector(".lb-actions").getBoundingClientRect();
          return dot.right > actions.left && dot.left < actions.right
            && dot.bottom > actions.top && dot.top < actions.bottom;
        })"""
    )
    assert overlaps and not any(overlaps), overlaps

    carol = await log_in(browser, demo_site.url, "carol", locale="zh-CN", **viewport)
    await carol.goto(demo_site.url + "/notifications/")
    label = carol.locator(".lb-level-label")
    await expect(label).to_contain_text("级别")
    lines = await label.evaluate(
        """label => {
          const range = document.createRange();
          range.selectNodeContents(label.firstChild);
          return new Set([...range.getClientRects()].filter(r => r.width > 0).map(r => r.top)).size;
        }"""
    )
    assert lines == 1


async def test_a_user_has_one_avatar_in_the_site_and_in_the_bell(
    demo_site: DemoSite, browser: Any
) -> None:
    """The demo draws avatars with livebell's rule ({% livebell_avatar %}): same
    initials, same colour as the bell's."""
    from playwright.async_api import expect

    bob = await log_in(browser, demo_site.url, "bob")
    await bell_open(bob)
    await bob.locator(".lb-bell").click()
    await bob.locator(".lb-tab[data-tab=all]").click()
    item = bob.locator(".lb-item", has=bob.locator(".lb-actor")).first
    await expect(item).to_be_visible()
    actor = await item.locator(".lb-actor").first.text_content()
    avatar = "el => [el.textContent, getComputedStyle(el).backgroundColor]"
    in_bell = await item.locator(".lb-avatar").evaluate(avatar)
    await bob.goto(f"{demo_site.url}/people/{actor}/")
    on_site = await bob.locator("main .avatar").first.evaluate(avatar)
    assert in_bell == on_site, (actor, in_bell, on_site)
    # bob's own, in the header, is his in a bell too.
    mine = await bob.locator(".site-header .avatar").evaluate(avatar)
    await bob.goto(f"{demo_site.url}/people/bob/")
    assert await bob.locator("main .avatar").first.evaluate(avatar) == mine


async def test_no_page_of_the_demo_logs_an_error_or_a_404(
    demo_site: DemoSite, browser: Any
) -> None:
    """Not even for a favicon: the demo has one, inline."""
    from playwright.async_api import expect

    context = await browser.new_context()
    page = await context.new_page()
    failed: list[str] = []
    errors: list[str] = []
    page.on("response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    await page.goto(demo_site.url + "/accounts/login/")
    await expect(page.locator("link[rel=icon]")).to_have_count(1)
    await page.fill("#id_username", "bob")
    await page.fill("#id_password", "livebell")
    await page.click("form.login button[type=submit]")
    await page.wait_for_url(demo_site.url + "/")
    for path in ["/", "/questions/1/", "/announcements/", "/people/alice/", "/notifications/",
                 "/settings/notifications/"]:  # fmt: skip
        await page.goto(demo_site.url + path)
        await bell_open(page)
        await expect(page.locator("link[rel=icon]")).to_have_count(1)
        await asyncio.sleep(0.3)
    assert failed == [] and errors == [], (failed, errors)
    await context.close()
