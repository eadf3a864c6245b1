"""Notification types, preferences, mutes, live grouping and the integrators' signals.

The test app registers four types (tests/testapp/apps.py) with Simplified Chinese
translations: post.commented, post.liked (groups within an hour), security.alert
(may not be turned off), digest.weekly (in-app off by default).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _

from livebell import inbox, mutes, notify, preferences, signals, types
from livebell.models import Mute, Notification, Preference
from livebell.payloads import notification_payload
from livebell.storage import state
from tests.testapp.models import Post

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(make_user: Any) -> tuple[Any, Any, Any]:
    return make_user("bob"), make_user("alice"), make_user("carol")


@pytest.fixture
def post() -> Post:
    return Post.objects.create(title="Hello")


# --- the registry ---------------------------------------------------------------------


def test_a_typed_notification_renders_its_sentence_in_the_readers_language(
    people: Any, post: Post
) -> None:
    bob, alice, _ = people
    [n] = notify(bob, type="post.commented", actor=alice, target=post)
    assert (n.type, n.verb, n.level) == ("post.commented", "post.commented", "info")
    with translation.override("en"):
        assert notification_payload(n)["text"] == "alice commented on your post “Hello”"
    with translation.override("zh-hans"):
        assert notification_payload(n)["text"] == "alice 评论了你的文章“Hello”"


def test_a_type_gives_its_level_and_the_template_may_use_data(people: Any) -> None:
    bob, _, _ = people
    [n] = notify(bob, type="security.alert", data={"place": "Lyon"})
    assert n.level == "warning"
    with translation.override("zh-hans"):
        assert notification_payload(n)["text"] == "新的登录\uff1aLyon"  # a full-width colon


def test_untyped_notifications_keep_working(people: Any, post: Post) -> None:
    bob, alice, _ = people
    [n] = notify(bob, "waved at you", actor=alice)
    [m] = notify(bob, "starred", target=post)
    payload = notification_payload(n)
    assert (payload["type"], payload["text"]) == (None, "alice waved at you")
    assert notification_payload(m)["text"] == "starred “Hello”"


def test_the_rest_list_speaks_the_requests_language(
    people: Any, post: Post, rest_client: Any
) -> None:
    bob, alice, _ = people
    notify(bob, type="post.commented", actor=alice, target=post)
    client = rest_client(bob)
    chinese = client.get("/api/notifications/", HTTP_ACCEPT_LANGUAGE="zh-hans")
    english = client.get("/api/notifications/", HTTP_ACCEPT_LANGUAGE="en")
    assert chinese.json()["results"][0]["text"] == "alice 评论了你的文章“Hello”"
    assert english.json()["results"][0]["text"] == "alice commented on your post “Hello”"
    assert client.get("/api/notifications/", {"type": "post.commented"}).json()["results"]
    assert not client.get("/api/notifications/", {"type": "post.liked"}).json()["results"]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        ({"type": "no.such"}, "Unknown notification type 'no.such'"),
        ({}, "needs a verb or a type"),
        ({"type": "post.liked", "level": "loud"}, "level must be one of"),
    ],
)
def test_bad_types_are_refused_before_any_write(
    people: Any, call: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        notify(people[0], **call)
    assert not Notification.objects.exists()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"key": "Bad Key"}, "lowercase letters"),
        ({"template": ""}, "needs a template"),
        ({"level": "loud"}, "level must be one of"),
        ({"channels": {"sms": True}}, "Unknown channel"),
        ({"group_window": timedelta(hours=1)}, "needs a grouped_template"),
        ({"group_window": timedelta(0), "grouped_template": "x"}, "positive timedelta"),
    ],
)
def test_registering_a_bad_type_says_what_is_wrong(options: dict[str, Any], message: str) -> None:
    arguments: dict[str, Any] = {"key": "ok.type", "template": "t", **options}
    with pytest.raises(ValueError, match=message):
        types.register(arguments.pop("key"), **arguments)


def test_a_key_is_registered_once() -> None:
    existing = types.get("post.commented")
    again = types.register("post.commented", label=existing.label, template=existing.template)
    assert again == existing
    with pytest.raises(ValueError, match="registered already"):
        types.register("post.commented", template=_("something else"))


def test_types_may_be_declared_in_settings(people: Any, settings: Any) -> None:
    settings.LIVEBELL = {"TYPES": {"deploy.done": {"template": "Deployed {release}"}}}
    [n] = notify(people[0], type="deploy.done", data={"release": "1.4"})
    assert notification_payload(n)["text"] == "Deployed 1.4"
    assert "deploy.done" in [kind.key for kind in types.all_types()]
    settings.LIVEBELL = {}
    with pytest.raises(types.UnknownType):
        types.get("deploy.done")


# --- preferences ----------------------------------------------------------------------


def test_a_user_who_turned_a_type_off_gets_none_of_it(people: Any, post: Post) -> None:
    bob, alice, carol = people
    preferences.set_choice(bob, "post.commented", "in_app", False)
    rows = notify([bob, carol], type="post.commented", actor=alice, target=post)
    assert [r.recipient_id for r in rows] == [carol.pk]
    assert not preferences.enabled(bob, "post.commented")
    # An opted-in user gets a type that is off by default.
    preferences.set_choice(bob, "digest.weekly", "in_app", True)
    rows = notify([bob, carol], type="digest.weekly", data={"count": 3})
    assert [r.recipient_id for r in rows] == [bob.pk]
    # Nobody left: nothing stored, no error.
    preferences.set_choice(carol, "post.commented", "in_app", False)
    preferences.set_choice(bob, "post.commented", "in_app", False)
    assert notify([bob, carol], type="post.commented", target=post) == []


def test_a_type_users_may_not_turn_off(people: Any) -> None:
    bob = people[0]
    with pytest.raises(preferences.ChoiceError, match="cannot be turned off"):
        preferences.set_choice(bob, "security.alert", "in_app", False)
    Preference.objects.create(user=bob, type="security.alert", channel="in_app", enabled=False)
    assert len(notify(bob, type="security.alert", data={"place": "x"})) == 1  # ignored
    [alert] = [c for c in preferences.choices(bob) if c["type"] == "security.alert"]
    assert alert == {
        "type": "security.alert",
        "label": "Security alerts",
        "optional": False,
        "channels": {"in_app": True, "email": True, "web_push": False},
    }


def test_ten_thousand_recipients_with_mixed_preferences_cost_a_bounded_number_of_queries(
    django_user_model: Any, post: Post
) -> None:
    django_user_model.objects.bulk_create(
        django_user_model(username=f"u{i}") for i in range(10_000)
    )
    users = list(django_user_model.objects.order_by("pk").values_list("pk", flat=True))
    off = users[::3]  # a third turned it off
    Preference.objects.bulk_create(
        Preference(user_id=u, type="post.commented", channel="in_app", enabled=False) for u in off
    )
    Mute.objects.bulk_create(
        Mute(user_id=u, target_content_type_id=_post_type(), target_object_id=str(post.pk))
        for u in users[1::7]
    )
    with CaptureQueriesContext(connection) as queries:
        rows = notify(django_user_model.objects.all(), type="post.commented", target=post, verb="c")
    muted = set(users[1::7])
    expected = [u for u in users if u not in set(off) and u not in muted]
    assert sorted(r.recipient_id for r in rows) == expected
    sql = [q["sql"] for q in queries]
    # One lookup of preferences per 1,000 recipients, then one of mutes per 1,000 of
    # those left (6,667), whatever they chose.
    assert sum("livebell_preference" in q for q in sql) == 10
    assert sum("livebell_mute" in q for q in sql) == 7
    # The rest are the recipients, the state rows and the INSERT batches (about 90 rows
    # each on SQLite, 1,000 elsewhere): never a statement per user.
    assert len(sql) < len(rows) / 20, len(sql)


def _post_type() -> int:
    from django.contrib.contenttypes.models import ContentType

    return ContentType.objects.get_for_model(Post).pk


def test_preferences_over_rest_are_the_users_own(people: Any, rest_client: Any) -> None:
    bob, alice, _ = people
    client = rest_client(bob)
    listed = client.get("/api/notifications/preferences/").json()
    assert [c["type"] for c in listed] == sorted(c["type"] for c in listed)
    response = client.patch(
        "/api/notifications/preferences/",
        {"choices": [{"type": "post.liked", "channel": "email", "enabled": True}]},
        format="json",
    )
    assert response.status_code == 200
    [liked] = [c for c in response.json() if c["type"] == "post.liked"]
    assert liked["channels"] == {"in_app": True, "email": True, "web_push": False}
    assert Preference.objects.get().user == bob  # never alice's
    assert preferences.choices(alice) != preferences.choices(bob)
    for bad, message in [
        ({"choices": [{"type": "no.such", "channel": "email", "enabled": True}]}, "Unknown"),
        ({"choices": [{"type": "security.alert", "channel": "in_app", "enabled": False}]},
         "cannot be turned off"),
        ({"choices": [{"type": "post.liked", "channel": "sms", "enabled": True}]}, "valid choice"),
        ({"choices": []}, "may not be empty"),
    ]:  # fmt: skip
        response = client.patch("/api/notifications/preferences/", bad, format="json")
        assert response.status_code == 400 and message in response.json()["detail"], response.json()
    assert Preference.objects.count() == 1  # all or none


# --- mutes ----------------------------------------------------------------------------


def test_a_muted_target_brings_nothing_until_unmuted_or_expired(people: Any, post: Post) -> None:
    bob, _, carol = people
    other = Post.objects.create(title="Other")
    mutes.mute(bob, post)
    assert mutes.is_muted(bob, post) and not mutes.is_muted(carol, post)
    assert [r.recipient_id for r in notify([bob, carol], "x", target=post)] == [carol.pk]
    assert len(notify(bob, "x", target=other)) == 1  # only that target
    assert mutes.unmute(bob, post)
    assert len(notify(bob, "x", target=post)) == 1
    muted = mutes.mute(bob, post, until=timezone.now() + timedelta(hours=1))
    assert notify(bob, "x", target=post) == []
    Mute.objects.filter(pk=muted.pk).update(until=timezone.now() - timedelta(seconds=1))
    assert len(notify(bob, "x", target=post)) == 1
    with pytest.raises(mutes.MuteError, match="in the future"):
        mutes.mute(bob, post, until=timezone.now() - timedelta(seconds=1))


def test_mutes_over_rest_are_the_users_own(people: Any, post: Post, rest_client: Any) -> None:
    bob, alice, _ = people
    client = rest_client(bob)
    target = {"type": "testapp.post", "id": str(post.pk)}
    created = client.post("/api/notifications/mutes/", {"target": target}, format="json")
    assert created.status_code == 201, created.json()
    mute_id = created.json()["id"]
    assert created.json()["target"] == target and created.json()["until"] is None
    assert [m["id"] for m in client.get("/api/notifications/mutes/").json()] == [mute_id]
    assert notify(bob, "x", target=post) == []
    # Alice sees none of bob's, and cannot unmute them.
    alices = rest_client(alice)
    assert alices.get("/api/notifications/mutes/").json() == []
    assert alices.delete(f"/api/notifications/mutes/{mute_id}/").status_code == 404
    bad = client.post(
        "/api/notifications/mutes/", {"target": {"type": "no.model", "id": "1"}}, format="json"
    )
    assert bad.status_code == 400 and "Unknown target type" in bad.json()["detail"]
    assert client.delete(f"/api/notifications/mutes/{mute_id}/").status_code == 204
    assert client.delete(f"/api/notifications/mutes/{mute_id}/").status_code == 404
    assert len(notify(bob, "x", target=post)) == 1


# --- live grouping --------------------------------------------------------------------


def test_likes_of_one_post_merge_into_one_row_with_a_new_id(people: Any, post: Post) -> None:
    bob, alice, carol = people
    [first] = notify(bob, type="post.liked", actor=alice, target=post)
    [second] = notify(bob, type="post.liked", actor=carol, target=post)
    assert second.pk > first.pk
    assert not Notification.objects.filter(pk=first.pk).exists()  # replaced
    stored = Notification.objects.get()
    assert (stored.pk, stored.count, stored.group) == (second.pk, 2, first.pk)
    assert [a["username"] for a in stored.actors] == ["carol", "alice"]
    with translation.override("en"):
        assert notification_payload(stored)["text"] == "carol and 1 other liked your post “Hello”"
    with translation.override("zh-hans"):
        assert notification_payload(stored)["text"] == "carol 和另外 1 人赞了你的文章“Hello”"
    found = state.current([bob.pk])[bob.pk]
    assert (found.last_id, found.unread_count) == (second.pk, 1)  # one unread, not two
    [third] = notify(bob, type="post.liked", actor=alice, target=post)
    merged = Notification.objects.get()
    assert (merged.pk, merged.count, merged.group) == (third.pk, 3, first.pk)
    assert [a["username"] for a in merged.actors] == ["alice", "carol"]  # each actor once


def test_only_unread_recent_rows_of_the_same_type_and_target_merge(people: Any, post: Post) -> None:
    bob, alice, carol = people
    other = Post.objects.create(title="Other")
    [liked] = notify(bob, type="post.liked", actor=alice, target=post)
    notify(bob, type="post.liked", actor=alice, target=other)  # another target
    notify(bob, type="post.commented", actor=alice, target=post)  # another type
    notify(carol, type="post.liked", actor=alice, target=post)  # another recipient
    assert Notification.objects.count() == 4
    inbox.mark_read(bob, [liked.pk])
    [fresh] = notify(bob, type="post.liked", actor=carol, target=post)  # the old one is read
    assert Notification.objects.filter(pk=liked.pk).exists() and fresh.count == 1
    Notification.objects.filter(pk=fresh.pk).update(created_at=timezone.now() - timedelta(hours=2))
    [later] = notify(bob, type="post.liked", actor=alice, target=post)  # out of the window
    assert later.count == 1 and Notification.objects.filter(pk=fresh.pk).exists()


def test_a_broadcast_of_a_grouping_type_merges_per_recipient(people: Any, post: Post) -> None:
    bob, alice, carol = people
    notify(bob, type="post.liked", actor=alice, target=post)
    rows = notify([bob, carol], type="post.liked", actor=carol, target=post)
    assert {r.recipient_id: r.count for r in rows} == {bob.pk: 2, carol.pk: 1}
    assert Notification.objects.count() == 2


def test_grouping_costs_two_queries_more_per_notify(people: Any, post: Post) -> None:
    """Measured for the docs: the group lookup, and the delete of the replaced row."""
    bob, alice, carol = people
    notify(bob, type="post.commented", actor=alice, target=post)
    with CaptureQueriesContext(connection) as plain:
        notify(bob, type="post.commented", actor=carol, target=post)
    notify(bob, type="post.liked", actor=alice, target=post)
    with CaptureQueriesContext(connection) as merging:
        notify(bob, type="post.liked", actor=carol, target=post)
    assert len(merging) == len(plain) + 2, ([q["sql"] for q in plain], [q["sql"] for q in merging])


# --- signals --------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_signals_are_sent_once_per_call_after_commit(people: Any, post: Post) -> None:
    bob, alice, carol = people
    created: list[Any] = []
    read: list[Any] = []

    def on_created(**kwargs: Any) -> None:
        created.append(([n.pk for n in kwargs["notifications"]], kwargs["type"]))

    def on_read(**kwargs: Any) -> None:
        read.append((kwargs["user_id"], kwargs["ids"], kwargs["before_id"]))

    unread: list[Any] = []

    def on_unread(**kwargs: Any) -> None:
        unread.append((kwargs["user_id"], kwargs["ids"]))

    signals.notification_created.connect(on_created)
    signals.notifications_read.connect(on_read)
    signals.notifications_unread.connect(on_unread)
    try:
        rows = notify([bob, carol], type="post.commented", actor=alice, target=post)
        assert created == [([r.pk for r in rows], "post.commented")]
        inbox.mark_read(bob, [rows[0].pk])
        inbox.mark_read(bob, [rows[0].pk])  # nothing changed: no signal
        inbox.mark_all_read(carol, before_id=rows[1].pk)
        assert read == [(bob.pk, [rows[0].pk], None), (carol.pk, "all", rows[1].pk)]
        inbox.mark_unread(bob, [rows[0].pk])
        inbox.mark_unread(bob, [rows[0].pk])  # nothing changed: no signal
        assert unread == [(bob.pk, [rows[0].pk])]
        assert len(read) == 2
        preferences.set_choice(bob, "post.commented", "in_app", False)
        preferences.set_choice(carol, "post.commented", "in_app", False)
        notify([bob, carol], type="post.commented", target=post)  # nobody: no signal
        assert len(created) == 1
    finally:
        signals.notification_created.disconnect(on_created)
        signals.notifications_read.disconnect(on_read)
        signals.notifications_unread.disconnect(on_unread)


def test_a_broken_template_or_translation_reads_plainly_instead_of_failing(
    people: Any, post: Post, settings: Any
) -> None:
    bob, alice, _ = people
    settings.LIVEBELL = {
        "TYPES": {
            "typo.type": {"template": "{actr} did {thing}"},  # names nothing it gets
            "broken.type": {"template": "{actor} did {"},  # not a valid template
        }
    }
    [typo] = notify(bob, type="typo.type", actor=alice, target=post)
    [broken] = notify(bob, type="broken.type", actor=alice, target=post)
    # Missing placeholders render empty; the sentence has no space at its ends.
    assert notification_payload(typo)["text"] == "did"
    assert notification_payload(broken)["text"] == "alice broken.type “Hello”"


def test_muting_a_thread_mutes_what_belongs_to_it(people: Any, post: Post) -> None:
    from tests.testapp.models import Reply

    bob, _, carol = people
    reply = Reply.objects.create(post=post, text="me too")
    other = Reply.objects.create(post=Post.objects.create(title="Other"), text="elsewhere")
    mutes.mute(bob, post)  # the thread
    assert mutes.is_muted(bob, reply) and not mutes.is_muted(bob, other)
    assert [r.recipient_id for r in notify([bob, carol], "replied", target=reply)] == [carol.pk]
    assert len(notify(bob, "replied", target=other)) == 1
    mutes.mute(carol, reply)  # only the reply itself
    assert not mutes.is_muted(carol, post)
    assert notify(carol, "replied", target=reply) == []
