"""The bell's "Notify me on this device" in a real (headless) Chromium, against the demo.

Headless Chromium has PushManager, but no push service to register with (it would be
Google's, and the machine is offline): ``pushManager.subscribe()`` fails there. So one
test checks that the failure is shown and nothing is stored, and another gives the page
a stand-in ``subscribe()`` that returns a subscription as a push service would (real
keys, an FCM endpoint), to check what the widget sends. The service worker gets pushes through
Chromium's DevTools protocol (``ServiceWorker.deliverPushMessage``), as from a push
service.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.demo_site import DemoSite, log_in

pytestmark = [pytest.mark.browser]

WORKER = "/api/notifications/webpush/worker.js"


async def open_bell(page: Any) -> Any:
    from playwright.async_api import expect

    await expect(page.locator(".livebell")).to_have_attribute("data-state", "open")
    await page.click(".lb-bell")
    control = page.locator(".lb-webpush")
    await expect(control).to_be_visible()
    return control


async def test_the_control_shows_and_its_service_worker_registers(
    demo_site: DemoSite, browser: Any
) -> None:
    from playwright.async_api import expect

    page = await log_in(browser, demo_site.url, "bob")
    control = await open_bell(page)
    switch = control.locator(".lb-webpush-switch")
    await expect(switch).to_have_attribute("role", "switch")
    await expect(switch).to_have_attribute("aria-checked", "false")
    await expect(switch).to_have_accessible_name("Notify me on this device")
    # One control for notifications outside the page, not two.
    await expect(page.locator(".lb-desktop")).to_be_hidden()
    scope = await page.evaluate(
        f"navigator.serviceWorker.getRegistration({WORKER!r}).then((r) => r && r.scope)"
    )
    assert scope == demo_site.url + "/api/notifications/webpush/"


async def test_a_browser_that_blocked_notifications_says_so(
    demo_site: DemoSite, browser: Any
) -> None:
    from playwright.async_api import expect

    page = await log_in(browser, demo_site.url, "bob")
    # Playwright grants, but cannot deny: Chromium's DevTools protocol can, for the
    # page's browser context.
    target = await (await page.context.new_cdp_session(page)).send("Target.getTargetInfo")
    await (await browser.new_browser_cdp_session()).send(
        "Browser.setPermission",
        {
            "permission": {"name": "notifications"},
            "setting": "denied",
            "origin": demo_site.url,
            "browserContextId": target["targetInfo"]["browserContextId"],
        },
    )
    await page.reload()
    control = await open_bell(page)
    await expect(control).to_have_class("lb-webpush lb-webpush-blocked")
    await expect(control.locator(".lb-webpush-note")).to_contain_text("blocked")
    switch = control.locator(".lb-webpush-switch")
    await expect(switch).to_have_attribute("aria-disabled", "true")
    await switch.focus()
    await page.keyboard.press("Enter")
    await expect(switch).to_have_attribute("aria-checked", "false")


async def test_without_a_push_service_subscribing_fails_visibly_and_stores_nothing(
    demo_site: DemoSite, browser: Any
) -> None:
    from playwright.async_api import expect

    page = await log_in(browser, demo_site.url, "bob")
    await page.context.grant_permissions(["notifications"], origin=demo_site.url)
    control = await open_bell(page)
    switch = control.locator(".lb-webpush-switch")
    await switch.focus()
    await page.keyboard.press("Enter")  # keyboard, as a keyboard user would
    # Offline, Chromium's pushManager.subscribe() fails after a time of its own (seen
    # past Playwright's default 5 s in about one run of six).
    await expect(page.locator(".lb-popover .lb-error")).to_contain_text(
        "Could not change", timeout=20_000
    )
    await expect(switch).to_have_attribute("aria-checked", "false")
    assert (
        await page.evaluate(
            "fetch('/api/notifications/webpush/subscriptions/').then((r) => r.json())"
        )
        == []
    )


async def test_subscribing_posts_the_devices_subscription_and_unsubscribing_deletes_it(
    demo_site: DemoSite, browser: Any
) -> None:
    from playwright.async_api import expect

    page = await log_in(browser, demo_site.url, "bob")
    await page.context.grant_permissions(["notifications"], origin=demo_site.url)
    control = await open_bell(page)
    # What the browser's push service would have given: a subscription (an endpoint on
    # an allowed push service, a real P-256 key and secret), and its unsubscribe().
    from tests.pushservice import Device

    device = Device("https://fcm.googleapis.com/fcm/send/livebell-test")
    await page.evaluate(
        """([worker, subscription]) => navigator.serviceWorker.getRegistration(worker).then((r) => {
            let current = null;
            const made = { ...subscription, toJSON: () => subscription,
                           unsubscribe: async () => { current = null; return true; } };
            r.pushManager.subscribe = async (options) => {
                window.subscribedWith = Array.from(options.applicationServerKey);
                current = made; return made;
            };
            r.pushManager.getSubscription = async () => current;
        })""",
        [WORKER, device.subscription()],
    )
    switch = control.locator(".lb-webpush-switch")
    await switch.click()
    await expect(switch).to_have_attribute("aria-checked", "true")
    [saved] = await page.evaluate(
        "fetch('/api/notifications/webpush/subscriptions/').then((r) => r.json())"
    )
    # Subscribed with the site's public key.
    key = await page.evaluate("window.subscribedWith")
    from tests.pushservice import unb64url

    public = await page.locator(".livebell").get_attribute("data-webpush-key")
    assert bytes(key) == unb64url(public or "")
    await switch.click()
    await expect(switch).to_have_attribute("aria-checked", "false")
    assert (
        await page.evaluate(
            "fetch('/api/notifications/webpush/subscriptions/').then((r) => r.json())"
        )
        == []
    )
    assert saved["id"] > 0


NOTIFY_BOB = """
from django.contrib.auth import get_user_model
from livebell import notify
users = get_user_model().objects
[row] = notify(users.get(username="bob"), "pinged you", actor=users.get(username="carol"))
print(row.pk)
"""


NOTIFY_BOB_MANY = """
from django.contrib.auth import get_user_model
from livebell import notify
users = get_user_model().objects
bob, carol = users.get(username="bob"), users.get(username="carol")
print([notify(bob, f"pinged you {i}", actor=carol)[0].pk for i in range(15)])
"""

NOTIFY_CAROL = """
from django.contrib.auth import get_user_model
from livebell import notify
users = get_user_model().objects
[row] = notify(users.get(username="carol"), "pinged you", actor=users.get(username="bob"))
print(row.pk)
"""


def give_device(demo_site: DemoSite, username: str) -> None:
    """A web push device for ``username`` (as if subscribed from another browser)."""
    from tests.pushservice import Device

    device = Device(f"https://fcm.googleapis.com/fcm/send/livebell-{username}")
    keys = device.keys()
    demo_site.shell(
        "from django.contrib.auth import get_user_model\n"
        "from livebell.reach import webpush\n"
        f"user = get_user_model().objects.get(username={username!r})\n"
        f"webpush.subscribe(user, {device.endpoint!r}, {keys['p256dh']!r}, {keys['auth']!r})\n"
    )


def is_received(request: Any) -> bool:
    return bool(request.url.endswith("/webpush/received/") and request.method == "POST")


async def test_the_bell_says_which_notifications_it_received_live(
    demo_site: DemoSite, browser: Any
) -> None:
    give_device(demo_site, "bob")
    page = await log_in(browser, demo_site.url, "bob")
    await open_bell(page)
    async with page.expect_request(is_received) as sent:
        pk = int(demo_site.shell(NOTIFY_BOB).strip())
    request = await sent.value
    assert request.post_data_json == {"ids": [pk]}
    assert (await request.response()).status == 204


async def test_a_user_without_a_device_posts_no_acknowledgements(
    demo_site: DemoSite, browser: Any
) -> None:
    """Only a user with a device can be pushed to: the server says so in the page
    (``data-webpush-ack``), and the bell of a user without one posts nothing."""
    from playwright.async_api import expect

    page = await log_in(browser, demo_site.url, "carol")
    await open_bell(page)
    posted: list[Any] = []
    page.on("request", lambda request: posted.append(request) if is_received(request) else None)
    assert await page.locator(".livebell").get_attribute("data-webpush-ack") is None
    pk = int(demo_site.shell(NOTIFY_CAROL).strip())
    await expect(page.locator(f'.lb-popover [data-id="{pk}"]')).to_be_visible()
    await page.wait_for_timeout(1500)  # past the bell's batching (500 ms)
    assert posted == []


async def _page_without_bell(demo_site: DemoSite, browser: Any, username: str) -> Any:
    """The full notifications page of the demo, as a site whose layout has no bell
    serves it: the bell's root is renamed in the HTML, so it is never mounted."""
    from playwright.async_api import expect

    page = await log_in(browser, demo_site.url, username)

    async def without_bell(route: Any) -> None:
        response = await route.fetch()
        html = (await response.text()).replace('data-livebell="bell"', 'data-no-bell="bell"')
        await route.fulfill(response=response, body=html)

    await page.route(demo_site.url + "/notifications/", without_bell)
    await page.goto(demo_site.url + "/notifications/")
    root = page.locator(".livebell-page")
    await expect(root).to_have_attribute("data-state", "open")
    assert await page.locator('[data-livebell="bell"]').count() == 0
    assert await root.get_attribute("data-webpush-ack") == "true"
    return page


async def test_the_full_notifications_page_says_what_it_received_live(
    demo_site: DemoSite, browser: Any
) -> None:
    give_device(demo_site, "bob")
    page = await _page_without_bell(demo_site, browser, "bob")
    async with page.expect_request(is_received) as sent:
        pk = int(demo_site.shell(NOTIFY_BOB).strip())
    request = await sent.value
    assert request.post_data_json == {"ids": [pk]}
    assert (await request.response()).status == 204


async def test_what_a_burst_summed_up_is_acknowledged_too(
    demo_site: DemoSite, browser: Any
) -> None:
    """Past the demo's storm threshold (10 in 10 s) the rest arrive as one "burst"
    frame: the page says it received everything up to the burst's last_id."""
    give_device(demo_site, "bob")
    page = await _page_without_bell(demo_site, browser, "bob")
    bodies: list[Any] = []
    page.on("request", lambda r: bodies.append(r.post_data_json) if is_received(r) else None)
    async with page.expect_request(lambda r: is_received(r) and "through" in (r.post_data or "")):
        pks = [int(pk) for pk in demo_site.shell(NOTIFY_BOB_MANY).strip("[]\n").split(",")]
    framed = {pk for body in bodies for pk in body["ids"]}
    [through] = [body["through"] for body in bodies if "through" in body]
    assert through == max(pks)
    assert framed and framed < set(pks)  # some came as frames, the rest in the burst


async def test_the_service_worker_shows_a_push_when_no_tab_of_the_site_is_open(
    demo_site: DemoSite, browser: Any
) -> None:
    import json

    page = await log_in(browser, demo_site.url, "bob")
    await page.context.grant_permissions(["notifications"], origin=demo_site.url)
    await open_bell(page)
    cdp = await page.context.new_cdp_session(page)
    registrations: list[Any] = []
    cdp.on(
        "ServiceWorker.workerRegistrationUpdated",
        lambda e: registrations.extend(e["registrations"]),
    )
    await cdp.send("ServiceWorker.enable")
    await page.wait_for_timeout(500)
    [registration] = [r for r in registrations if r["scopeURL"].endswith("/webpush/")]

    async def push(number: int) -> None:
        message = {"id": number, "title": "Answers", "body": f"alice answered {number}"}
        message.update(url="/x/", tag=f"livebell-{number}")
        await cdp.send(
            "ServiceWorker.deliverPushMessage",
            {
                "origin": demo_site.url + "/",
                "registrationId": registration["registrationId"],
                "data": json.dumps(message),
            },
        )
        await page.wait_for_timeout(1000)

    shown = f"""navigator.serviceWorker.getRegistration({WORKER!r})
        .then((r) => r.getNotifications())
        .then((all) => all.map((n) => [n.title, n.body, n.tag, n.data]))"""
    await push(1)  # this focused tab's bell shows it: the worker does not
    assert await page.evaluate(shown) == []
    await page.goto("about:blank")  # no tab of the site is open now
    await push(2)
    await page.goto(demo_site.url + "/")
    assert await page.evaluate(shown) == [
        ["Answers", "alice answered 2", "livebell-2", {"url": "/x/"}]
    ]


async def test_a_subscription_the_browser_replaces_is_followed_by_the_worker(
    demo_site: DemoSite, browser: Any
) -> None:
    """pushsubscriptionchange: the worker subscribes again with the same key, posts the
    new subscription to the API (with the CSRF token the bell gave it) and deletes the
    old device. Headless Chromium has no push service and never fires the event: the
    test dispatches it in the worker, whose pushManager.subscribe() answers as a push
    service would."""
    from playwright.async_api import expect

    from tests.pushservice import Device, unb64url

    page = await log_in(browser, demo_site.url, "bob")
    await page.context.grant_permissions(["notifications"], origin=demo_site.url)
    control = await open_bell(page)
    old = Device("https://fcm.googleapis.com/fcm/send/livebell-old")
    new = Device("https://fcm.googleapis.com/fcm/send/livebell-new")
    await page.evaluate(
        """([worker, subscription]) => navigator.serviceWorker.getRegistration(worker).then((r) => {
            const made = { ...subscription, toJSON: () => subscription,
                           unsubscribe: async () => true };
            r.pushManager.subscribe = async () => made;
            r.pushManager.getSubscription = async () => made;
        })""",
        [WORKER, old.subscription()],
    )
    switch = control.locator(".lb-webpush-switch")
    await switch.click()
    await expect(switch).to_have_attribute("aria-checked", "true")
    [before] = await page.evaluate(
        "fetch('/api/notifications/webpush/subscriptions/').then((r) => r.json())"
    )
    [worker] = [w for w in page.context.service_workers if w.url.endswith(WORKER)]
    # The bell told the worker which device this is (and the token to post with).
    await worker.evaluate(
        """async (device) => {
            for (let i = 0; i < 100; i++) {
                if ((await readState()).device === device) { return; }
                await new Promise((done) => setTimeout(done, 50));
            }
            throw new Error("the bell did not tell the worker its device");
        }""",
        before["id"],
    )
    public = await page.locator(".livebell").get_attribute("data-webpush-key") or ""
    await worker.evaluate(
        """([subscription, key]) => {
            self.subscribedWith = null;
            const made = { ...subscription, toJSON: () => subscription };
            self.registration.pushManager.subscribe = async (options) => {
                self.subscribedWith = Array.from(new Uint8Array(options.applicationServerKey));
                return made;
            };
            const event = new ExtendableEvent("pushsubscriptionchange");
            const bytes = Uint8Array.from(key);
            Object.defineProperty(event, "oldSubscription", {
                value: { endpoint: "old", options: { applicationServerKey: bytes.buffer } },
            });
            self.dispatchEvent(event);
        }""",
        [new.subscription(), list(unb64url(public))],
    )

    async def devices() -> list[Any]:
        return list(
            await page.evaluate(
                "fetch('/api/notifications/webpush/subscriptions/').then((r) => r.json())"
            )
        )

    for _ in range(100):
        if [d["id"] for d in await devices()] not in ([before["id"]], []):
            break
        await page.wait_for_timeout(100)
    [after] = await devices()
    assert after["id"] != before["id"]  # the old device is gone, the new one is bob's
    assert bytes(await worker.evaluate("self.subscribedWith")) == unb64url(public)
    endpoints = demo_site.shell(
        "from livebell.models import WebPushSubscription\n"
        "print(list(WebPushSubscription.objects.values_list('user__username', 'endpoint')))"
    )
    assert endpoints.strip() == str([("bob", new.endpoint)])
