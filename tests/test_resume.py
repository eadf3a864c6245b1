"""Nothing lost: resume from the database after a reconnect, once each, in order."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import override_settings

from livebell import anotify
from livebell.layer import delivery
from tests.conftest import connect_synced, open_socket, receive_json

pytestmark = [pytest.mark.django_db(transaction=True)]


async def read_until_synced(socket: Any) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    notifications = []
    while True:
        frame = await receive_json(socket)
        if frame["type"] == "synced":
            return notifications, frame
        assert frame["type"] == "notification", frame
        notifications.append(frame["notification"])


async def test_connect_without_last_id_gets_synced_with_count_only(amake_user: Any) -> None:
    bob = await amake_user("bob")
    rows = [(await anotify(bob, f"n{i}"))[0] for i in range(3)]
    socket = await open_socket(bob)
    await socket.connect()
    assert await receive_json(socket) == {
        "type": "synced",
        "last_id": rows[-1].pk,
        "unread_count": 3,
    }
    await socket.disconnect()


async def test_reconnect_with_last_id_replays_exactly_what_was_missed_then_goes_live(
    layer_kind: str, amake_user: Any
) -> None:
    bob, alice = await amake_user("bob"), await amake_user("alice")
    socket = await connect_synced(bob)
    [seen] = await anotify(bob, "before")
    assert (await receive_json(socket))["notification"]["id"] == seen.pk
    await socket.disconnect()

    missed = [(await anotify([bob, alice], f"missed {i}"))[0] for i in range(100)]

    socket = await connect_synced_after(bob, seen.pk, expect=100)
    replayed, synced = socket.replayed, socket.synced
    assert [n["id"] for n in replayed] == [n.pk for n in missed]  # in order, once each
    assert [n["verb"] for n in replayed] == [f"missed {i}" for i in range(100)]
    assert synced == {"type": "synced", "last_id": missed[-1].pk, "unread_count": 101}

    [live] = await anotify(bob, "live again")
    frame = await receive_json(socket)
    assert frame["notification"]["id"] == live.pk and frame["unread_count"] == 102
    assert await socket.receive_nothing(timeout=0.2)
    await socket.disconnect()


async def connect_synced_after(user: Any, last_id: int, expect: int) -> Any:
    socket = await open_socket(user, path=f"/ws/notifications/?last_id={last_id}")
    connected, _ = await socket.connect()
    assert connected
    socket.replayed, socket.synced = await read_until_synced(socket)
    assert len(socket.replayed) == expect
    return socket


async def test_resume_frame_replays_from_the_given_id(amake_user: Any) -> None:
    bob = await amake_user("bob")
    rows = [(await anotify(bob, f"n{i}"))[0] for i in range(5)]
    socket = await connect_synced(bob)
    await socket.send_json_to({"type": "resume", "last_id": rows[1].pk})
    replayed, synced = await read_until_synced(socket)
    assert [n["id"] for n in replayed] == [r.pk for r in rows[2:]]
    assert synced["last_id"] == rows[-1].pk
    await socket.disconnect()


async def test_a_large_gap_is_capped_and_marked_truncated(amake_user: Any, settings: Any) -> None:
    settings.LIVEBELL = {"RESUME_MAX": 10}
    bob = await amake_user("bob")
    rows = [(await anotify(bob, f"n{i}"))[0] for i in range(25)]
    socket = await connect_synced_after(bob, 0, expect=10)
    assert [n["id"] for n in socket.replayed] == [r.pk for r in rows[-10:]]  # the newest
    assert socket.synced == {
        "type": "synced",
        "last_id": rows[-1].pk,
        "unread_count": 25,
        "truncated": True,
    }
    await socket.disconnect()


async def test_a_last_id_beyond_the_newest_does_not_hide_future_notifications(
    amake_user: Any,
) -> None:
    bob = await amake_user("bob")
    [old] = await anotify(bob, "old")
    socket = await connect_synced_after(bob, old.pk + 10_000, expect=0)
    assert socket.synced["last_id"] == old.pk
    [new] = await anotify(bob, "new")
    assert (await receive_json(socket))["notification"]["id"] == new.pk
    await socket.disconnect()


@pytest.mark.parametrize("value", ["-1", "abc", "1e3", "", "9" * 19, "١٢"])
async def test_a_bad_last_id_gets_an_error_then_a_plain_sync(amake_user: Any, value: str) -> None:
    bob = await amake_user("bob")
    socket = await open_socket(bob, path=f"/ws/notifications/?last_id={value}")
    await socket.connect()
    first = await receive_json(socket)
    if value == "":  # an empty parameter is no parameter
        assert first["type"] == "synced"
    else:
        assert first["type"] == "error" and first["code"] == "bad_last_id"
        assert (await receive_json(socket))["type"] == "synced"
    await socket.send_json_to({"type": "resume", "last_id": -5})
    assert (await receive_json(socket))["code"] == "bad_last_id"
    await socket.disconnect()


async def test_a_missed_push_is_detected_and_filled_from_the_database(
    layer_kind: str, amake_user: Any
) -> None:
    """A row stored whose push was lost (the layer was down) reaches the open socket
    with the next push, before it, in id order."""
    bob = await amake_user("bob")
    socket = await connect_synced(bob)
    failed = delivery.stats.failed
    with override_settings(LIVEBELL={"CHANNEL_LAYER": "down"}):  # no such layer: push lost
        [lost] = await anotify(bob, "never pushed")
    assert delivery.stats.failed == failed + 1
    [pushed] = await anotify(bob, "pushed")

    first, second = await receive_json(socket), await receive_json(socket)
    assert [first["notification"]["id"], second["notification"]["id"]] == [lost.pk, pushed.pk]
    # The catch-up ends with a synced frame carrying the fresh count.
    synced = await receive_json(socket)
    assert synced == {"type": "synced", "last_id": pushed.pk, "unread_count": 2}
    assert await socket.receive_nothing(timeout=0.3)  # the live push itself was dropped
    await socket.disconnect()


async def test_pushes_during_a_catch_up_are_not_sent_twice(amake_user: Any) -> None:
    """Live pushes queued while a catch-up reads the database are dropped if replayed."""
    bob = await amake_user("bob")
    rows = [(await anotify(bob, f"n{i}"))[0] for i in range(3)]
    socket = await connect_synced(bob)
    # Ask for a replay and, before the consumer gets to it, create more.
    await socket.send_json_to({"type": "resume", "last_id": 0})
    more = [(await anotify(bob, f"m{i}"))[0] for i in range(3)]
    ids = []
    while not await socket.receive_nothing(timeout=0.3):
        frame = await receive_json(socket)
        if frame["type"] == "notification":
            ids.append(frame["notification"]["id"])
    assert ids == [r.pk for r in rows + more]
    await socket.disconnect()


@pytest.mark.django_db
def test_a_catch_up_costs_two_lookups(make_user: Any, django_assert_num_queries: Any) -> None:
    """Bounded whatever the inbox size: the state row, then the rows; one lookup when
    nothing is newer."""
    from livebell import notify
    from livebell.storage.catchup import catch_up

    bob, alice = make_user("bob"), make_user("alice")
    rows = [notify(bob, f"n{i}", actor=alice)[0] for i in range(30)]
    with django_assert_num_queries(2):
        missed = catch_up(bob.pk, rows[9].pk, limit=500)
    assert [n["id"] for n in missed.notifications] == [r.pk for r in rows[10:]]
    assert (missed.last_id, missed.unread_count) == (rows[-1].pk, 30)
    assert missed.notifications[0]["actor"] == {"id": alice.pk, "username": "alice"}
    with django_assert_num_queries(1):
        plain = catch_up(bob.pk, None, limit=500)
    assert (plain.notifications, plain.last_id, plain.unread_count) == ([], rows[-1].pk, 30)
    with django_assert_num_queries(1):
        nothing_new = catch_up(bob.pk, rows[-1].pk, limit=500)
    assert (nothing_new.last_id, nothing_new.unread_count) == (rows[-1].pk, 30)
