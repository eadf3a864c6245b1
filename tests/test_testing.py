"""``livebell.testing``: the fake that users' own suites assert on.

It must see what was stored, pushed, emailed and web-pushed, inside a test's
transaction (which never commits) and outside one, with no channel layer running
(pushes held back) and with one (let through with ``deliver=True``).
"""

from __future__ import annotations

import importlib.machinery
import sys
import types
from collections.abc import Iterator
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.core import mail
from django.db import transaction
from django.test import override_settings

from livebell import inbox, notify
from livebell.layer import delivery
from livebell.layer.groups import user_group
from livebell.layer.messages import InboxChange, Push
from livebell.reach import email
from livebell.testing import EMAIL_HEADER, LivebellFake, fake

# A Redis layer nobody listens on: a push that reached it would fail and be counted.
NO_LAYER = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [{"address": "redis://127.0.0.1:1", "socket_timeout": None}]},
    }
}


@pytest.mark.django_db
def test_the_fixture_captures_inside_the_tests_transaction(
    make_user: Any, livebell_fake: LivebellFake
) -> None:
    """pytest-django's ``django_db`` runs the test in a transaction that never
    commits: the fake runs livebell's after-commit work itself, once the test's
    transaction is the only one open."""
    bob, alice = make_user("bob"), make_user("alice")

    notify(bob, "liked your post", actor=alice)
    notify([bob, alice], "deploy finished", level="success")

    rows = livebell_fake.assert_notified(bob, count=2)
    assert [n.verb for n in rows] == ["liked your post", "deploy finished"]
    livebell_fake.assert_notified(bob, verb="liked your post", count=1)
    livebell_fake.assert_notified(alice.pk, verb="deploy finished")
    livebell_fake.assert_not_notified(alice, verb="liked your post")
    assert [p.group for p in livebell_fake.pushes] == [
        user_group(bob.pk),
        user_group(bob.pk),
        user_group(alice.pk),
    ]


@pytest.mark.django_db
def test_typed_notifications_match_by_type(make_user: Any) -> None:
    from tests.testapp.models import Post

    bob, alice = make_user("bob"), make_user("alice")
    post = Post.objects.create(title="hello")
    with fake() as sent:
        notify(bob, type="post.liked", actor=alice, target=post)
    sent.assert_notified(bob, type="post.liked", count=1)
    sent.assert_not_notified(bob, type="post.commented")
    sent.assert_not_notified(alice)


@pytest.mark.django_db
def test_failed_assertions_say_what_was_stored(make_user: Any) -> None:
    bob, alice = make_user("bob"), make_user("alice")
    with fake() as sent:
        [row] = notify(bob, "hello")
        with pytest.raises(AssertionError, match=rf"expected 2 .*found 1.*#{row.pk} .*'hello'"):
            sent.assert_notified(bob, count=2)
        with pytest.raises(AssertionError, match=r"expected some .*verb='bye'.*found 0"):
            sent.assert_notified(bob, verb="bye")
        with pytest.raises(AssertionError, match="expected no notification"):
            sent.assert_not_notified(bob)
        with pytest.raises(AssertionError, match="stored 1, pushed 1"):
            sent.assert_nothing_sent()
        sent.assert_not_notified(alice)


@pytest.mark.django_db
def test_nothing_is_announced_before_the_codes_own_transaction_commits(make_user: Any) -> None:
    bob = make_user("bob")
    with fake() as sent:
        with transaction.atomic():
            notify(bob, "inside")
            sent.assert_nothing_sent()  # as in production: not before commit
        sent.assert_notified(bob, verb="inside", count=1)
        with transaction.atomic():
            notify(bob, "rolled back")
            transaction.set_rollback(True)
        sent.assert_not_notified(bob, verb="rolled back")


@pytest.mark.django_db
@override_settings(CHANNEL_LAYERS=NO_LAYER)
def test_pushes_are_held_back_so_no_layer_is_needed(make_user: Any) -> None:
    bob = make_user("bob")
    failed = delivery.stats.failed
    with fake() as sent:
        [row] = notify(bob, "x")
        inbox.mark_read(bob, [row.pk])
        sent.assert_notified(bob)
    assert [type(m) for m in sent.pushed] == [Push, InboxChange]
    assert delivery.stats.failed == failed  # nothing went to the dead layer


@pytest.mark.django_db(transaction=True)
async def test_deliver_lets_pushes_through_to_the_layer(
    amake_user: Any, group_listener: Any
) -> None:
    bob = await amake_user("bob")
    listen = await group_listener(user_group(bob.pk))
    with fake(deliver=True) as sent:
        [row] = await sync_to_async(notify)(bob, "through")
        message = await listen()
    assert message["id"] == row.pk  # the push reached the user's group
    await sync_to_async(sent.assert_notified)(bob, verb="through", count=1)
    assert [p.id for p in sent.pushes] == [row.pk]


def _livebell_email(ids: str) -> Any:
    return mail.EmailMultiAlternatives(
        "You have news", "…", "bell@example.com", ["bob@example.com"], headers={EMAIL_HEADER: ids}
    )


@pytest.mark.django_db
def test_livebell_emails_are_captured_and_others_go_on(make_user: Any) -> None:
    bob = make_user("bob")
    with fake() as sent:
        [row] = notify(bob, "x")
        email.send_message(_livebell_email(f"{row.pk}"))
        mail.EmailMessage("Welcome", "hi", "site@example.com", ["bob@example.com"]).send()
        assert sent.emails_for(bob) == sent.emailed
    assert [m.subject for m in sent.emailed] == ["You have news"]
    assert [m.subject for m in mail.outbox] == ["Welcome"]  # the site's own mail

    with fake(deliver=True) as sent:
        email.send_message(_livebell_email("1, 2"))
    assert len(sent.emailed) == 1
    assert [m.subject for m in mail.outbox] == ["Welcome", "You have news"]


@pytest.mark.django_db
def test_the_email_of_what_stays_unread_is_captured(make_user: Any, settings: Any) -> None:
    """The real sweep: what it emails is recorded, and reaches no mailbox unless let through."""
    from datetime import timedelta

    from django.utils import timezone

    settings.LIVEBELL = {
        **settings.LIVEBELL,
        "SITE_URL": "http://testserver",
        "TYPES": {"post.answered": {"template": "{actor} answered", "email_after": timedelta(0)}},
    }
    bob, alice = make_user("bob", email="bob@example.com"), make_user("alice")
    later = timezone.now() + timedelta(minutes=1)
    with fake() as sent:
        [row] = notify(bob, type="post.answered", actor=alice)
        assert email.send_due(later) == 1
    assert [m.to for m in sent.emails_for(bob)] == [["bob@example.com"]]
    assert email.HEADER == EMAIL_HEADER and sent.emailed[0].extra_headers[EMAIL_HEADER] == str(
        row.pk
    )
    assert mail.outbox == []  # held back
    with fake(deliver=True) as sent:
        notify(bob, type="post.answered", actor=alice)
        assert email.send_due(later) == 1
    assert len(sent.emailed) == 1 and len(mail.outbox) == 1


@pytest.fixture
def webpush_module() -> Iterator[list[Any]]:
    """A ``livebell.reach.webpush`` with a ``send_push`` that records real sends,
    standing in for the module when this checkout has none (it is built apart)."""
    name = "livebell.reach.webpush"
    real = sys.modules.get(name)
    sends: list[Any] = []
    module = types.ModuleType(name)
    module.__spec__ = importlib.machinery.ModuleSpec(name, None)
    module.send_push = lambda subscription, payload: sends.append((subscription, payload))  # type: ignore[attr-defined]
    sys.modules[name] = module
    try:
        yield sends
    finally:
        if real is None:
            del sys.modules[name]
        else:
            sys.modules[name] = real


def test_web_pushes_are_captured_through_the_module(webpush_module: list[Any]) -> None:
    module: Any = sys.modules["livebell.reach.webpush"]
    with fake() as sent:
        module.send_push({"endpoint": "https://push.example/1"}, {"title": "hi"})
    assert [(p.subscription["endpoint"], p.payload) for p in sent.webpushed] == [
        ("https://push.example/1", {"title": "hi"})
    ]
    assert webpush_module == []  # held back
    with fake(deliver=True) as sent:
        module.send_push({"endpoint": "e"}, "p")
    assert len(sent.webpushed) == 1 and webpush_module == [({"endpoint": "e"}, "p")]
    with pytest.raises(AssertionError, match="web-pushed 1"):
        sent.assert_nothing_sent()


@pytest.mark.django_db
def test_the_fake_runs_the_push_tasks_a_test_has_no_worker_for(
    settings: Any, make_user: Any
) -> None:
    """Django's immediate backend (the default) would push in the request, so livebell
    enqueues nothing there; under the fake, livebell's push tasks run in the test."""
    from livebell import preferences
    from livebell.reach import webpush
    from tests.pushservice import Device
    from tests.test_webpush import CONTACT, _keys

    private, public = _keys()
    settings.LIVEBELL = {
        **settings.LIVEBELL,
        "WEB_PUSH_VAPID_PRIVATE_KEY": private,
        "WEB_PUSH_VAPID_PUBLIC_KEY": public,
        "WEB_PUSH_CONTACT": CONTACT,
    }
    alice = make_user("alice")
    device = Device("https://fcm.googleapis.com/fcm/send/fake-test")
    keys = device.keys()
    webpush.subscribe(alice, device.endpoint, keys["p256dh"], keys["auth"])
    preferences.set_choice(alice, "post.commented", "web_push", True)
    with fake() as sent:
        [row] = notify(alice, type="post.commented", actor=make_user("bob"))
        sent.assert_notified(alice, type="post.commented")
    [pushed] = sent.webpushed
    assert pushed.subscription.endpoint == device.endpoint and pushed.payload["id"] == row.pk


def test_without_a_webpush_module_nothing_is_patched(monkeypatch: pytest.MonkeyPatch) -> None:
    """A site whose livebell has no ``livebell.reach.webpush`` (a version before it)."""
    import importlib.util

    from livebell.reach import webpush

    real_find_spec = importlib.util.find_spec
    name = "livebell.reach.webpush"
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda wanted, *args: None if wanted == name else real_find_spec(wanted, *args),
    )
    real_send = webpush.send_push
    with fake() as sent:
        assert webpush.send_push is real_send  # not patched
        sent.assert_nothing_sent()
    assert sent.webpushed == []


@pytest.mark.any_database
def test_the_plugin_loads_before_django_is_set_up() -> None:
    """pytest imports the plugin (the pytest11 entry point) before pytest-django sets
    Django up: it must import no models and read no settings."""
    import os
    import subprocess

    code = (
        "import sys, livebell.testing; "
        "loaded = [m for m in sys.modules if m.endswith('.models') or m == 'django.db']; "
        "assert not loaded, loaded"
    )
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    from importlib.metadata import entry_points

    assert "livebell.testing" in {e.value for e in entry_points(group="pytest11")}
