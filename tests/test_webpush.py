"""Web push (livebell.reach.webpush) against a local stand-in push service.

The stand-in (tests/pushservice.py) checks each push's VAPID token and decrypts it
with the fake device's private key, as a real push service and browser would; the
tests read what it decrypted.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from py_vapid import Vapid

from livebell import mutes, preferences
from livebell.models import WebPushSubscription
from livebell.reach import tasks, webpush
from livebell.sending import notify
from tests.pushservice import PushService, b64url
from tests.testapp.models import Post

CONTACT = "mailto:push-tests@example.com"
SUBSCRIPTIONS = reverse("livebell:webpush-subscription-list")


def _keys() -> tuple[str, str]:
    out = io.StringIO()
    call_command("livebell_vapid", "--contact", CONTACT, stdout=out)
    values = dict(
        line.strip().rstrip(",").replace('"', "").split(": ", 1)
        for line in out.getvalue().splitlines()
        if line.startswith('"')
    )
    return values["WEB_PUSH_VAPID_PRIVATE_KEY"], values["WEB_PUSH_VAPID_PUBLIC_KEY"]


def _tasks_backend(name: str) -> str:
    """The dotted path of a task backend of Django's (6.x) or of the backport's (5.2)."""
    try:
        import django.tasks  # noqa: F401
    except ImportError:
        return f"django_tasks.backends.{name}"
    return f"django.tasks.backends.{name}"


def _run_tasks() -> list[Any]:
    """Run the tasks livebell's (dummy) backend holds, in order, as its worker would,
    also those they enqueue; the results it ran."""
    backend = tasks.on_backend(webpush.deliver).get_backend()
    ran = []
    while getattr(backend, "results", None):  # an immediate backend holds none
        result = backend.results.pop(0)
        ran.append(result)
        result.task.call(*result.args, **result.kwargs)
    return ran


@pytest.fixture
def service(settings: Any) -> Iterator[PushService]:
    """The stand-in, and livebell configured to push to it (no delay), its tasks held
    by a backend that defers (a worker's) until the test runs them (:func:`_run_tasks`)."""
    # Ids come again after each test's rollback: another test's "received" must not count.
    cache.clear()
    settings.TASKS = {"default": {"BACKEND": _tasks_backend("dummy.DummyBackend")}}
    private, public = _keys()
    with PushService(public, CONTACT) as push_service:
        settings.LIVEBELL = {
            "WEB_PUSH_VAPID_PRIVATE_KEY": private,
            "WEB_PUSH_VAPID_PUBLIC_KEY": public,
            "WEB_PUSH_CONTACT": CONTACT,
            "WEB_PUSH_SERVICES": (push_service.origin,),
            "WEB_PUSH_DELAY_SECONDS": 0,
        }
        yield push_service
    assert not push_service.rejected, push_service.rejected


@pytest.fixture
def queued(settings: Any) -> Callable[[], list[Any]]:
    """Tasks are held (a backend that defers) until the test runs them; returns a
    function that runs what is due in order and returns the results it ran."""
    settings.TASKS = {"default": {"BACKEND": _tasks_backend("dummy.DummyBackend")}}
    return _run_tasks


@pytest.fixture
def subscribed(service: PushService, make_user: Callable[..., Any]) -> Callable[..., Any]:
    """A user with a device on the stand-in, who wants comments pushed."""

    def make(username: str, *, language: str = "en", wants: bool = True) -> Any:
        user = make_user(username)
        device = service.device()
        keys = device.keys()
        webpush.subscribe(user, device.endpoint, keys["p256dh"], keys["auth"], language)
        if wants:
            preferences.set_choice(user, "post.commented", "web_push", True)
        user.device = device
        return user

    return make


def _comment(
    recipients: Any, actor: Any, post: Post, capture: Any, *, run: bool = True
) -> list[Any]:
    """Comment on ``post`` and commit; then the worker runs the pushes, unless not ``run``."""
    with capture(execute=True):
        rows = notify(recipients, type="post.commented", actor=actor, target=post)
    if run:
        _run_tasks()
    return rows


@pytest.mark.django_db
def test_a_push_is_signed_encrypted_and_says_what_happened(
    service: PushService,
    subscribed: Callable[..., Any],
    make_user: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    alice = subscribed("alice")
    bob = make_user("bob")
    post = Post.objects.create(title="Tea")
    [row] = _comment(alice, bob, post, django_capture_on_commit_callbacks)
    assert service.messages(alice.device) == [
        {
            "id": row.pk,
            "title": "Comments on your posts",
            "body": "bob commented on your post “Tea”",
            "url": reverse("livebell:go", args=[row.pk]),
            "tag": f"livebell-{row.pk}",
        }
    ]
    [received] = service.received
    assert received.claims["sub"] == CONTACT
    assert received.ttl == "86400"


@pytest.mark.django_db
def test_nothing_is_pushed_when_the_transaction_rolls_back(
    service: PushService,
    subscribed: Callable[..., Any],
    make_user: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    alice = subscribed("alice")
    post = Post.objects.create(title="Tea")
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        notify(alice, type="post.commented", actor=make_user("bob"), target=post)
        assert service.received == []  # not in the transaction either
        raise RuntimeError("rolled back")
    assert callbacks == []
    assert service.received == []


@pytest.mark.django_db
def test_only_recipients_whose_preferences_allow_it_and_who_did_not_mute(
    service: PushService,
    subscribed: Callable[..., Any],
    make_user: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    wants = subscribed("wants")
    default_off = subscribed("default_off", wants=False)
    muted = subscribed("muted")
    post = Post.objects.create(title="Tea")
    mutes.mute(muted, post)
    _comment(
        [wants, default_off, muted], make_user("bob"), post, django_capture_on_commit_callbacks
    )
    assert len(service.messages(wants.device)) == 1
    assert service.messages(default_off.device) == []
    assert service.messages(muted.device) == []
    # A type users may not turn off is pushed to every device.
    with django_capture_on_commit_callbacks(execute=True):
        notify(default_off, type="security.alert", data={"place": "Oslo"})
    _run_tasks()
    assert [m["body"] for m in service.messages(default_off.device)] == ["New sign-in from Oslo"]


@pytest.mark.django_db
def test_a_device_that_is_gone_is_forgotten(
    service: PushService,
    subscribed: Callable[..., Any],
    make_user: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    from livebell.metrics import WEB_PUSHES

    before = {o: WEB_PUSHES.labels(o)._value.get() for o in ("gone", "delivered")}
    unsubscribed, expired, kept = subscribed("a"), subscribed("b"), subscribed("c")
    service.script(unsubscribed.device, 410)
    service.script(expired.device, 404)
    post = Post.objects.create(title="Tea")
    _comment(
        [unsubscribed, expired, kept], make_user("bob"), post, django_capture_on_commit_callbacks
    )
    assert sorted(r.status for r in service.received) == [201, 404, 410]
    assert WEB_PUSHES.labels("gone")._value.get() == before["gone"] + 2
    assert WEB_PUSHES.labels("delivered")._value.get() == before["delivered"] + 1
    left = WebPushSubscription.objects.values_list("user__username", flat=True)
    assert list(left) == ["c"]


@pytest.mark.django_db
@pytest.mark.parametrize("failure", [500, 429, 503])
def test_a_failed_push_keeps_the_device_and_is_tried_again_later(
    failure: int,
    service: PushService,
    queued: Callable[[], list[Any]],
    subscribed: Callable[..., Any],
    make_user: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    alice = subscribed("alice")
    service.script(alice.device, failure, failure)
    post = Post.objects.create(title="Tea")
    [row] = _comment(alice, make_user("bob"), post, django_capture_on_commit_callbacks, run=False)
    backend = webpush.deliver.get_backend()
    ran = []
    waits = []
    while backend.results:
        result = backend.results.pop(0)
        if result.task.run_after is not None:
            waits.append((result.task.run_after - timezone.now()).total_seconds())
        ran.append((result.task.name, result.args))
        result.task.call(*result.args, **result.kwargs)
    device_id = WebPushSubscription.objects.get(user=alice).pk
    assert ran == [
        ("deliver", [[row.pk]]),
        ("deliver_again", [device_id, row.pk, 1]),
        ("deliver_again", [device_id, row.pk, 2]),
    ]
    # Two refusals, then delivered on the second retry, after WEB_PUSH_RETRY_DELAYS.
    assert [r.status for r in service.received] == [failure, failure, 201]
    assert [round(w, -1) for w in waits] == [0, 30, 120]
    assert service.messages(alice.device)[0]["id"] == row.pk
    device = WebPushSubscription.objects.get(user=alice)
    # What the admin shows: the last refusal, then the success after it.
    assert device.last_failure_at is not None and device.last_success_at is not None
    assert device.last_failure_at <= device.last_success_at


@pytest.mark.django_db
def test_a_retry_waits_as_long_as_the_push_service_asks(
    service: PushService,
    queued: Callable[[], list[Any]],
    subscribed: Callable[..., Any],
    make_user: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    alice = subscribed("alice")
    service.retry_after = 600
    service.script(alice.device, 429)
    _comment(
        alice,
        make_user("bob"),
        Post.objects.create(title="Tea"),
        django_capture_on_commit_callbacks,
        run=False,
    )
    backend = webpush.deliver.get_backend()
    first = backend.results.pop(0)
    first.task.call(*first.args, **first.kwargs)
    [retry] = backend.results
    wait = (retry.task.run_after - timezone.now()).total_seconds()
    assert 590 < wait <= 600  # not the 30 s of the first backoff


@pytest.mark.django_db
def test_retries_are_bounded(
    service: PushService,
    queued: Callable[[], list[Any]],
    subscribed: Callable[..., Any],
    make_user: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    alice = subscribed("alice")
    service.script(alice.device, *[500] * 10)
    _comment(
        alice,
        make_user("bob"),
        Post.objects.create(title="Tea"),
        django_capture_on_commit_callbacks,
        run=False,
    )
    ran = queued()
    assert len(ran) == 1 + 3  # WEB_PUSH_RETRY_DELAYS: three retries by default
    assert [r.status for r in service.received] == [500] * 4
    assert WebPushSubscription.objects.filter(user=alice).exists()


@pytest.mark.django_db
def test_not_pushed_to_a_user_whose_open_tab_received_it_live(
    service: PushService,
    queued: Callable[[], list[Any]],
    settings: Any,
    subscribed: Callable[..., Any],
    make_user: Any,
    rest_client: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    settings.LIVEBELL = {**settings.LIVEBELL, "WEB_PUSH_DELAY_SECONDS": 10}
    alice, carol = subscribed("alice"), subscribed("carol")
    mallory = make_user("mallory")
    post = Post.objects.create(title="Tea")
    rows = _comment(
        [alice, carol], make_user("bob"), post, django_capture_on_commit_callbacks, run=False
    )
    backend = webpush.deliver.get_backend()
    [pending] = backend.results
    # Deferred, so that a live tab can say it got it first.
    delay = (pending.task.run_after - timezone.now()).total_seconds()
    assert 8 < delay <= 10
    by_user = {row.recipient_id: row.pk for row in rows}
    received = reverse("livebell:webpush-received")
    # Alice's tab received hers live; mallory cannot hold carol's back.
    for user, pk in ((alice, by_user[alice.pk]), (mallory, by_user[carol.pk])):
        response = rest_client(user).post(received, {"ids": [pk]}, format="json")
        assert response.status_code == 204
    queued()
    assert service.messages(alice.device) == []
    assert [m["id"] for m in service.messages(carol.device)] == [by_user[carol.pk]]


@pytest.mark.django_db
def test_a_notification_read_before_its_push_is_not_pushed(
    service: PushService,
    queued: Callable[[], list[Any]],
    subscribed: Callable[..., Any],
    make_user: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    from livebell import inbox

    alice = subscribed("alice")
    [row] = _comment(
        alice,
        make_user("bob"),
        Post.objects.create(title="Tea"),
        django_capture_on_commit_callbacks,
        run=False,
    )
    inbox.mark_read(alice, [row.pk])
    queued()
    assert service.received == []


@pytest.mark.django_db
def test_nothing_is_enqueued_without_keys(
    queued: Callable[[], list[Any]], make_user: Any, django_capture_on_commit_callbacks: Any
) -> None:
    alice = make_user("alice")
    preferences.set_choice(alice, "post.commented", "web_push", True)
    _comment(
        alice,
        make_user("bob"),
        Post.objects.create(title="Tea"),
        django_capture_on_commit_callbacks,
        run=False,
    )
    assert queued() == []


# --- REST ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_subscribe_list_and_unsubscribe_only_ones_own(
    service: PushService, make_user: Any, rest_client: Any
) -> None:
    alice, bob = make_user("alice"), make_user("bob")
    device = service.device()
    response = rest_client(alice).post(SUBSCRIPTIONS, device.subscription(), format="json")
    assert response.status_code == 201, response.json()
    mine = response.json()["id"]
    assert set(response.json()) == {"id", "created_at"}
    assert [d["id"] for d in rest_client(alice).get(SUBSCRIPTIONS).json()] == [mine]
    assert rest_client(bob).get(SUBSCRIPTIONS).json() == []
    detail = reverse("livebell:webpush-subscription-detail", args=[mine])
    assert rest_client(bob).delete(detail).status_code == 404
    assert WebPushSubscription.objects.filter(pk=mine, user=alice).exists()
    assert rest_client(alice).delete(detail).status_code == 204
    assert rest_client(alice).delete(detail).status_code == 404
    assert rest_client(alice).delete(SUBSCRIPTIONS + "nope/").status_code == 404


@pytest.mark.django_db
def test_logging_out_forgets_the_devices_subscribed_with_that_session(
    service: PushService, make_user: Any, rest_client: Any
) -> None:
    from django.test import Client

    alice = make_user("alice")
    shared, own = service.device(), service.device()
    browser = Client()
    browser.force_login(alice)
    response = browser.post(SUBSCRIPTIONS, shared.subscription(), content_type="application/json")
    assert response.status_code == 201
    assert (
        rest_client(alice).post(SUBSCRIPTIONS, own.subscription(), format="json").status_code == 201
    )
    browser.logout()  # on the shared computer
    endpoints = WebPushSubscription.objects.filter(user=alice).values_list("endpoint", flat=True)
    assert list(endpoints) == [own.endpoint]


@pytest.mark.django_db
def test_a_device_subscribed_again_is_one_device_of_its_latest_user(
    service: PushService, make_user: Any, rest_client: Any
) -> None:
    alice, bob = make_user("alice"), make_user("bob")
    device = service.device()
    for user in (alice, alice, bob):
        assert (
            rest_client(user).post(SUBSCRIPTIONS, device.subscription(), format="json").status_code
            == 201
        )
    assert list(WebPushSubscription.objects.values_list("user__username", flat=True)) == ["bob"]


@pytest.mark.django_db
def test_a_user_has_at_most_twenty_devices_the_oldest_replaced(
    service: PushService, make_user: Any
) -> None:
    alice = make_user("alice")
    devices = [service.device() for _ in range(webpush.MAX_SUBSCRIPTIONS + 2)]
    for device in devices:
        keys = device.keys()
        webpush.subscribe(alice, device.endpoint, keys["p256dh"], keys["auth"])
    left = list(
        WebPushSubscription.objects.filter(user=alice)
        .order_by("id")
        .values_list("endpoint", flat=True)
    )
    assert left == [d.endpoint for d in devices[2:]]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ([], "JSON object"),
        ({"endpoint": "x"}, "keys"),
        ({"keys": {"p256dh": "a", "auth": "b"}}, "endpoint"),
        ({"endpoint": "http://169.254.169.254/latest/", "keys": "VALID"}, "push service"),
        (
            {"endpoint": "https://fcm.googleapis.com.evil.example/x", "keys": "VALID"},
            "push service",
        ),
        ({"endpoint": "ENDPOINT", "keys": {"p256dh": "AAAA", "auth": "AAAA"}}, "p256dh"),
        ({"endpoint": "ENDPOINT", "keys": {"p256dh": "VALID", "auth": b64url(b"x" * 15)}}, "auth"),
        ({"endpoint": "ENDPOINT" + "x" * 2048, "keys": "VALID"}, "endpoint"),
    ],
)
def test_bad_subscriptions_are_refused_with_a_detail(
    body: Any, detail: str, service: PushService, make_user: Any, rest_client: Any
) -> None:
    device = service.device()
    if isinstance(body, dict):
        if body.get("keys") == "VALID":
            body["keys"] = device.keys()
        elif isinstance(body.get("keys"), dict) and body["keys"]["p256dh"] == "VALID":
            body["keys"]["p256dh"] = device.keys()["p256dh"]
        if str(body.get("endpoint", "")).startswith("ENDPOINT"):
            body["endpoint"] = device.endpoint + body["endpoint"][len("ENDPOINT") :]
    response = rest_client(make_user("alice")).post(SUBSCRIPTIONS, body, format="json")
    assert response.status_code == 400
    assert detail in response.json()["detail"]
    assert not WebPushSubscription.objects.exists()


@pytest.mark.django_db
def test_writes_need_a_user_and_csrf(
    service: PushService, make_user: Any, rest_client: Any
) -> None:
    device = service.device()
    assert rest_client(None).post(
        SUBSCRIPTIONS, device.subscription(), format="json"
    ).status_code in (401, 403)
    strict = rest_client(make_user("alice"), enforce_csrf_checks=True)
    assert strict.post(SUBSCRIPTIONS, device.subscription(), format="json").status_code == 403
    assert not WebPushSubscription.objects.exists()


@pytest.mark.django_db
def test_subscribing_is_refused_when_web_push_is_off(make_user: Any, rest_client: Any) -> None:
    body = {
        "endpoint": "https://fcm.googleapis.com/fcm/send/x",
        "keys": {"p256dh": "a", "auth": "b"},
    }
    response = rest_client(make_user("alice")).post(SUBSCRIPTIONS, body, format="json")
    assert response.status_code == 404
    assert "not configured" in response.json()["detail"]


@pytest.mark.django_db
def test_received_refuses_what_is_not_a_list_of_ids(make_user: Any, rest_client: Any) -> None:
    url = reverse("livebell:webpush-received")
    client = rest_client(make_user("alice"))
    for body in ({}, {"ids": "1"}, {"ids": [0]}, {"ids": list(range(1, 1002))}):
        response = client.post(url, body, format="json")
        assert response.status_code == 400, body
        assert response.json()["detail"]


# --- The service worker and the keys ------------------------------------------------


@pytest.mark.django_db
def test_the_service_worker_is_served_from_the_sites_origin(client: Any) -> None:
    response = client.get(reverse("livebell:webpush-worker"))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/javascript")
    body = response.content.decode()
    assert 'addEventListener("push"' in body and 'addEventListener("notificationclick"' in body


def test_livebell_vapid_makes_a_pair_that_signs() -> None:
    private, public = _keys()
    vapid = Vapid.from_string(private)
    headers = vapid.sign({"sub": CONTACT, "aud": "https://push.example", "exp": 2**31})
    assert headers["Authorization"].endswith(f"k={public}")
    # The public key printed is the private key's: what browsers are given matches
    # what signs (the stand-in checks the signature of every push with it).
    assert (
        vapid.public_key.public_numbers()
        == Vapid.from_raw_public(public.encode()).public_key.public_numbers()
    )


@pytest.mark.django_db
def test_each_device_gets_the_push_in_the_language_it_subscribed_in(
    service: PushService,
    make_user: Any,
    rest_client: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    alice = make_user("alice")
    preferences.set_choice(alice, "post.commented", "web_push", True)
    phone, laptop = service.device(), service.device()
    for device, language in ((phone, "zh-hans"), (laptop, "en")):
        client = rest_client(alice, HTTP_ACCEPT_LANGUAGE=language)
        response = client.post(SUBSCRIPTIONS, device.subscription(), format="json")
        assert response.status_code == 201
    _comment(
        alice,
        make_user("bob"),
        Post.objects.create(title="Tea"),
        django_capture_on_commit_callbacks,
    )
    assert [m["body"] for m in service.messages(phone)] == ["bob 评论了你的文章“Tea”"]
    assert [m["body"] for m in service.messages(laptop)] == ["bob commented on your post “Tea”"]


def test_the_system_checks_catch_half_a_configuration(settings: Any) -> None:
    from django.core import checks

    from livebell.checks import check_web_push

    private, public = _keys()
    other_private, _other_public = _keys()
    good = {
        "WEB_PUSH_VAPID_PRIVATE_KEY": private,
        "WEB_PUSH_VAPID_PUBLIC_KEY": public,
        "WEB_PUSH_CONTACT": CONTACT,
    }
    settings.LIVEBELL = good
    # Django's default task backend runs each task at once, in the request: refused.
    [error] = check_web_push()
    assert error.id == "livebell.E023" and error.level == checks.ERROR
    assert "TASKS['default']" in error.msg and "inside the request" in error.msg
    assert "django_tasks_db.DatabaseBackend" in error.hint and "db_worker" in error.hint
    assert 'LIVEBELL["TASK_BACKEND"]' in error.hint
    settings.TASKS = {"default": {"BACKEND": _tasks_backend("dummy.DummyBackend")}}
    assert check_web_push() == []  # a backend that runs tasks later
    settings.LIVEBELL = {}
    assert check_web_push() == []  # off, on purpose
    cases = {
        "livebell.E020": {"WEB_PUSH_VAPID_PRIVATE_KEY": private},
        "livebell.E021": {**good, "WEB_PUSH_VAPID_PRIVATE_KEY": other_private},
        "livebell.E022": {**good, "WEB_PUSH_CONTACT": "push-tests@example.com"},
    }
    for expected, configured in cases.items():
        settings.LIVEBELL = configured
        assert [message.id for message in check_web_push()] == [expected]
    settings.LIVEBELL = {**good, "WEB_PUSH_VAPID_PRIVATE_KEY": "not a key"}
    assert [message.id for message in check_web_push()] == ["livebell.E021"]


@pytest.mark.django_db
def test_a_merged_notification_replaces_its_groups_on_the_device(
    service: PushService,
    subscribed: Callable[..., Any],
    make_user: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    alice = subscribed("alice")
    preferences.set_choice(alice, "post.liked", "web_push", True)
    post = Post.objects.create(title="Tea")
    rows = []
    for name in ("bob", "carol"):
        with django_capture_on_commit_callbacks(execute=True):
            rows += notify(alice, type="post.liked", actor=make_user(name), target=post)
        _run_tasks()
    tags = [m["tag"] for m in service.messages(alice.device)]
    assert tags == [f"livebell-{rows[0].pk}"] * 2
    assert service.messages(alice.device)[1]["body"] == "carol and 1 other liked your post “Tea”"


# --- Where pushes run ---------------------------------------------------------------


@pytest.mark.django_db
def test_pushes_never_run_in_the_request_on_a_backend_that_cannot_defer(
    service: PushService,
    settings: Any,
    subscribed: Callable[..., Any],
    make_user: Any,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Any,
) -> None:
    """Django's default ImmediateBackend would run the push here, in notify()'s request:
    nothing is pushed, and that is logged once (livebell.E023 refuses it at start-up)."""
    monkeypatch.setattr(webpush, "_NOT_DEFERRING_LOGGED", set())
    settings.TASKS = {"default": {"BACKEND": _tasks_backend("immediate.ImmediateBackend")}}
    alice = subscribed("alice")
    bob = make_user("bob")
    with caplog.at_level("ERROR", logger="livebell.webpush"):
        for title in ("Tea", "Coffee"):
            _comment(
                alice, bob, Post.objects.create(title=title), django_capture_on_commit_callbacks
            )
    assert service.received == []
    [logged] = [r for r in caplog.records if r.name == "livebell.webpush"]
    assert "no web push is sent" in logged.getMessage()
    assert "livebell.E023" in logged.getMessage()


@pytest.mark.django_db
def test_tasks_go_to_the_backend_task_backend_names(
    service: PushService,
    settings: Any,
    subscribed: Callable[..., Any],
    make_user: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    from livebell.checks import check_task_backend, check_web_push

    settings.TASKS = {
        "default": {"BACKEND": _tasks_backend("immediate.ImmediateBackend")},
        "livebell": {"BACKEND": _tasks_backend("dummy.DummyBackend")},
    }
    settings.LIVEBELL = {**settings.LIVEBELL, "TASK_BACKEND": "livebell"}
    assert check_web_push() == [] and check_task_backend() == []
    alice = subscribed("alice")
    [row] = _comment(
        alice,
        make_user("bob"),
        Post.objects.create(title="Tea"),
        django_capture_on_commit_callbacks,
    )
    [message] = service.messages(alice.device)  # by the "livebell" backend's "worker"
    assert message["id"] == row.pk
    settings.LIVEBELL = {**settings.LIVEBELL, "TASK_BACKEND": "nope"}
    [error] = check_task_backend()
    assert error.id == "livebell.E024" and "'nope'" in error.msg
    # At run time it is logged; notify(), whose transaction committed, does not fail.
    _comment(
        alice,
        make_user("carol"),
        Post.objects.create(title="Tea"),
        django_capture_on_commit_callbacks,
        run=False,
    )
    assert len(service.messages(alice.device)) == 1


@pytest.mark.django_db
def test_the_retry_delays_are_a_setting(
    service: PushService,
    settings: Any,
    queued: Callable[[], list[Any]],
    subscribed: Callable[..., Any],
    make_user: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    settings.LIVEBELL = {**settings.LIVEBELL, "WEB_PUSH_RETRY_DELAYS": (5, 7.5)}
    alice = subscribed("alice")
    service.script(alice.device, *[500] * 10)
    _comment(
        alice,
        make_user("bob"),
        Post.objects.create(title="Tea"),
        django_capture_on_commit_callbacks,
        run=False,
    )
    backend = webpush.deliver.get_backend()
    waits = []
    while backend.results:
        result = backend.results.pop(0)
        waits.append((result.task.run_after - timezone.now()).total_seconds())
        result.task.call(*result.args, **result.kwargs)
    assert [round(w, 1) for w in waits] == [0, 5, 7.5]  # the push, then two retries
    assert [r.status for r in service.received] == [500] * 3


@pytest.mark.parametrize(
    "delays",
    [(0,), (-30,), ("30",), "30", 30, (True,), (1,) * 11, (86401,), (float("nan"),)],
)
def test_bad_retry_delays_are_refused_by_a_check(settings: Any, delays: Any) -> None:
    from livebell.checks import check_web_push_retries

    settings.LIVEBELL = {"WEB_PUSH_RETRY_DELAYS": delays}
    [error] = check_web_push_retries()
    assert error.id == "livebell.E025"
    settings.LIVEBELL = {"WEB_PUSH_RETRY_DELAYS": ()}
    assert check_web_push_retries() == []  # never tried again: allowed


# --- The admin ----------------------------------------------------------------------


@pytest.mark.django_db
def test_the_admin_lists_devices_without_their_endpoint_and_deletes_them(
    service: PushService,
    subscribed: Callable[..., Any],
    make_user: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    from django.test import Client

    alice, carol = subscribed("alice"), subscribed("carol")
    service.script(carol.device, *[500] * 4)  # the push and its three retries
    _comment(
        [alice, carol],
        make_user("bob"),
        Post.objects.create(title="Tea"),
        django_capture_on_commit_callbacks,
    )
    admin = make_user("root")
    admin.is_staff = admin.is_superuser = True
    admin.save()
    client = Client()
    client.force_login(admin)
    changelist = reverse("admin:livebell_webpushsubscription_changelist")
    page = client.get(changelist)
    assert page.status_code == 200
    html = page.content.decode()
    host = service.origin.split("://", 1)[1]
    assert "alice" in html and "carol" in html and host in html
    assert alice.device.token not in html and alice.device.keys()["auth"] not in html
    rows = {d.user.username: d for d in WebPushSubscription.objects.select_related("user")}
    assert rows["alice"].last_success_at is not None and rows["alice"].last_failure_at is None
    assert rows["carol"].last_failure_at is not None and rows["carol"].last_success_at is None
    # Devices are made by browsers: no add, nothing to change.
    assert client.get(reverse("admin:livebell_webpushsubscription_add")).status_code == 403
    change = reverse("admin:livebell_webpushsubscription_change", args=[rows["alice"].pk])
    detail = client.get(change)
    assert detail.status_code == 200 and b'name="_save"' not in detail.content
    response = client.post(
        changelist,
        {"action": "delete_selected", "_selected_action": [rows["carol"].pk], "post": "yes"},
    )
    assert response.status_code == 302
    assert list(WebPushSubscription.objects.values_list("user__username", flat=True)) == ["alice"]


@pytest.mark.django_db
def test_a_burst_is_acknowledged_up_to_its_last_id(
    service: PushService,
    queued: Callable[[], list[Any]],
    settings: Any,
    subscribed: Callable[..., Any],
    make_user: Any,
    rest_client: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    """A "burst" frame has no ids, only last_id: the tab says it received everything up
    to it (``through``), which holds back the user's own notifications up to that id."""
    settings.LIVEBELL = {**settings.LIVEBELL, "WEB_PUSH_DELAY_SECONDS": 10}
    alice, carol = subscribed("alice"), subscribed("carol")
    bob = make_user("bob")
    post = Post.objects.create(title="Tea")
    summed = [
        _comment([alice, carol], bob, post, django_capture_on_commit_callbacks, run=False)
        for _ in range(3)
    ]
    last = _comment(alice, bob, post, django_capture_on_commit_callbacks, run=False)[0]
    through = max(row.pk for rows in summed for row in rows)
    response = rest_client(alice).post(
        reverse("livebell:webpush-received"), {"ids": [], "through": through}, format="json"
    )
    assert response.status_code == 204
    queued()
    # Alice's three up to the burst's last_id are held back; the one after is pushed;
    # carol's, below the same id, are not alice's to hold back.
    assert [m["id"] for m in service.messages(alice.device)] == [last.pk]
    assert len(service.messages(carol.device)) == 3
    bad = rest_client(alice).post(
        reverse("livebell:webpush-received"), {"ids": [], "through": "5"}, format="json"
    )
    assert bad.status_code == 400
