"""The demo's REST-driven bell in a real Chromium: two tabs of bob stay in step."""

from __future__ import annotations

import os
from typing import Any

import pytest

from tests.demo_site import DemoSite, log_in

pytestmark = [pytest.mark.browser]

# Sends from another process than the server, through the demo's Redis.
SEND = """
from django.contrib.auth import get_user_model
from livebell import notify
users = get_user_model().objects
for verb in {verbs!r}:
    [row] = notify(users.get(username="bob"), verb, actor=users.get(username="alice"))
print(row.pk)
"""


async def test_two_tabs_of_bob_stay_in_step(demo_site: DemoSite, browser: Any) -> None:
    from playwright.async_api import expect

    live_server_url = demo_site.url
    demo_site.shell(SEND.format(verbs=[f"liked photo {index}" for index in range(25)]))

    tab1 = await log_in(browser, live_server_url, "bob")
    tab2 = await tab1.context.new_page()  # same browser, same session: a second tab
    await tab2.goto(live_server_url + "/")
    for tab in (tab1, tab2):
        await expect(tab.locator("#socket-state")).to_have_attribute("data-state", "open")
        await expect(tab.locator("#unread-count")).to_have_text("25")
        # The first page (20, newest first) came from GET /api/notifications/.
        await expect(tab.locator("#notifications li[data-id]")).to_have_count(20)
        await expect(tab.locator("#notifications li .verb").first).to_have_text(
            "alice liked photo 24"
        )

    # "Load more" follows the cursor to the 5 older ones, then disappears.
    await tab1.click("#load-more")
    await expect(tab1.locator("#notifications li[data-id]")).to_have_count(25)
    await expect(tab1.locator("#notifications li .verb").last).to_have_text("alice liked photo 0")
    await expect(tab1.locator("#load-more")).to_be_hidden()

    # Clicking an item in one tab marks it read; the other tab follows over the socket.
    newest = tab1.locator("#notifications li[data-id]").first
    newest_id = await newest.get_attribute("data-id")
    await newest.locator(".verb").click()
    await expect(tab2.locator("#unread-count")).to_have_text("24")
    await expect(tab2.locator(f'#notifications li[data-id="{newest_id}"]')).not_to_have_class(
        "unread"
    )

    # "Mark all read" in one tab: the other tab's badge goes to 0 without a reload.
    await tab1.click("#mark-all-read")
    await expect(tab1.locator("#unread-count")).to_have_text("0")
    await expect(tab2.locator("#unread-count")).to_have_text("0")
    await expect(tab2.locator("#notifications li.unread")).to_have_count(0)
    await expect(tab2.locator("#mark-all-read")).to_be_disabled()

    # A new one still arrives live in both, and deleting it in one removes it in the other.
    fresh = int(demo_site.shell(SEND.format(verbs=["commented"])).strip())
    for tab in (tab1, tab2):
        await expect(tab.locator("#unread-count")).to_have_text("1")
    await tab2.locator(f'#notifications li[data-id="{fresh}"] .delete').click()
    await expect(tab1.locator(f'#notifications li[data-id="{fresh}"]')).to_have_count(0)
    await expect(tab1.locator("#unread-count")).to_have_text("0")
    await tab2.screenshot(path=os.environ.get("LIVEBELL_REST_SCREENSHOT", "/tmp/livebell-rest.png"))


async def test_api_docs_page_renders_without_leaving_the_site(
    demo_site: DemoSite, browser: Any
) -> None:
    from playwright.async_api import expect

    live_server_url = demo_site.url
    page = await (await browser.new_context()).new_page()
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    await page.goto(live_server_url + "/api/docs/")
    # Swagger UI (served from drf-spectacular-sidecar's static files) drew the schema.
    await expect(page.locator(".swagger-ui .opblock-summary-path").first).to_be_visible()
    await expect(page.get_by_text("Mark all notifications read (up to before_id)")).to_be_visible()
    await page.screenshot(path="/tmp/livebell-api-docs.png")
    assert requested
    assert all(url.startswith(live_server_url) or url.startswith("data:") for url in requested), [
        url for url in requested if not url.startswith(live_server_url)
    ]
