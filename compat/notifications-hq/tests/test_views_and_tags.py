"""hq's state-changing links refuse other sites; the tags load livebell's client."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core import checks
from django.template import Context, Template
from django.test import Client, RequestFactory, override_settings
from django.urls import reverse

from notifications.signals import notify

pytestmark = pytest.mark.django_db


@pytest.fixture
def bob_client() -> tuple[Client, Any]:
    alice = User.objects.create_user("alice", password="pwd")
    bob = User.objects.create_user("bob", password="pwd")
    notify.send(alice, recipient=bob, verb="commented")
    client = Client()
    client.force_login(bob)
    return client, bob.notifications.get()


@pytest.mark.parametrize("site", ["cross-site", "same-site"])
def test_a_get_another_site_caused_changes_nothing(bob_client: Any, site: str) -> None:
    client, row = bob_client
    url = reverse("notifications:mark_as_read", args=[row.slug])
    response = client.get(url, headers={"sec-fetch-site": site})
    assert response.status_code == 403
    row.refresh_from_db()
    assert row.unread
    response = client.get(url, headers={"origin": "https://evil.example"})
    assert response.status_code == 403
    for name in ("mark_all_as_read", "delete"):
        args = [] if name == "mark_all_as_read" else [row.slug]
        assert (
            client.get(
                reverse(f"notifications:{name}", args=args), headers={"sec-fetch-site": site}
            ).status_code
            == 403
        )
    row.refresh_from_db()
    assert row.unread


def test_same_origin_gets_and_posts_change_state(bob_client: Any) -> None:
    client, row = bob_client
    url = reverse("notifications:mark_as_read", args=[row.slug])
    assert client.get(url, headers={"sec-fetch-site": "same-origin"}).status_code == 302
    row.refresh_from_db()
    assert not row.unread
    url = reverse("notifications:mark_as_unread", args=[row.slug])
    assert client.post(url).status_code == 302
    row.refresh_from_db()
    assert row.unread
    csrf = Client(enforce_csrf_checks=True)
    csrf.force_login(row.recipient)
    assert csrf.post(reverse("notifications:mark_all_as_read")).status_code == 403


def test_register_notify_callbacks_loads_livebell_and_escapes(bob_client: Any) -> None:
    _, row = bob_client
    request = RequestFactory().get("/")
    request.user = row.recipient
    html = Template(
        "{% load notifications_tags %}{% register_notify_callbacks "
        "badge_class='</script><b>' callbacks='fill_notification_badge,alert(1)' %}"
        "{% live_notify_badge %}"
    ).render(Context({"request": request, "user": request.user}))
    assert '<script src="/static/livebell/livebell.js"></script>' in html
    assert 'notify_livebell_api="/api/notifications/";' in html
    assert "</script><b>" not in html and "\\u003c/script\\u003e\\u003cb\\u003e" in html
    assert "register_notifier(fill_notification_badge);" in html
    assert "alert(1)" not in html
    assert "<span class='live_notify_badge'>1</span>" in html


def test_livebell_must_be_installed() -> None:
    from notifications.checks import livebell_installed

    assert livebell_installed() == []
    apps = [a for a in __import__("django.conf").conf.settings.INSTALLED_APPS if a != "livebell"]
    with override_settings(INSTALLED_APPS=apps):
        assert [e.id for e in livebell_installed()] == ["notifications.E001"]
    assert checks.run_checks() == []


def test_the_json_lists_mark_read_only_for_this_site(bob_client: Any) -> None:
    client, row = bob_client
    url = reverse("notifications:live_unread_notification_list") + "?mark_as_read=1"
    data = client.get(url, headers={"sec-fetch-site": "cross-site"}).json()
    assert len(data["unread_list"]) == 1
    row.refresh_from_db()
    assert row.unread
    client.get(url, headers={"sec-fetch-site": "same-origin"})
    row.refresh_from_db()
    assert not row.unread


def test_long_texts_keep_the_twin_within_livebells_data_limit() -> None:
    from livebell.models import Notification as Twin

    alice = User.objects.create_user("alice")
    notify.send(alice, recipient=alice, verb="wrote", description="x" * 20000)
    twin = Twin.objects.get()
    assert twin.data["hq"]["description"] == "x" * 499 + "…"
