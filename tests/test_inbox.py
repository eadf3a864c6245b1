"""Read state and deletion: changed through Python, the socket or admin; every tab told."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async

from livebell import anotify, inbox
from livebell.ids import InvalidId
from livebell.models import Notification
from tests.conftest import connect_synced, receive_json

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture
async def people(amake_user: Any) -> tuple[Any, Any]:
    return await amake_user("bob"), await amake_user("alice")


async def drain(*sockets: Any) -> None:
    for socket in sockets:
        while not await socket.receive_nothing(timeout=0.1):
            await socket.receive_output()


async def test_mark_read_over_one_socket_updates_every_tab_of_that_user_only(
    layer_kind: str, people: Any
) -> None:
    bob, alice = people
    first, second = await anotify(bob, "one"), await anotify(bob, "two")
    tab1, tab2, alice_tab = (
        await connect_synced(bob),
        await connect_synced(bob),
        await connect_synced(alice),
    )
    await tab1.send_json_to({"type": "mark_read", "ids": [first[0].pk]})
    for tab in (tab1, tab2):
        assert await receive_json(tab) == {"type": "read", "ids": [first[0].pk], "unread_count": 1}
    assert await alice_tab.receive_nothing(timeout=0.3)

    await tab2.send_json_to({"type": "mark_unread", "ids": [first[0].pk]})
    for tab in (tab1, tab2):
        assert await receive_json(tab) == {
            "type": "unread",
            "ids": [first[0].pk],
            "unread_count": 2,
        }

    await tab2.send_json_to({"type": "mark_all_read", "before_id": first[0].pk})
    expected = {"type": "read", "ids": "all", "before_id": first[0].pk, "unread_count": 1}
    for tab in (tab1, tab2):
        assert await receive_json(tab) == expected
    assert await Notification.objects.filter(pk=second[0].pk, read_at__isnull=True).aexists()
    assert await alice_tab.receive_nothing(timeout=0.3)
    for socket in (tab1, tab2, alice_tab):
        await socket.disconnect()


async def test_python_api_changes_push_to_the_users_sockets(people: Any) -> None:
    bob, _ = people
    rows = await anotify(bob, "x")
    await anotify(bob, "y")
    tab = await connect_synced(bob)

    assert await sync_to_async(inbox.mark_read)(bob, [rows[0].pk]) == [rows[0].pk]
    assert await receive_json(tab) == {"type": "read", "ids": [rows[0].pk], "unread_count": 1}
    assert await inbox.amark_all_read(bob) == 1
    assert await receive_json(tab) == {
        "type": "read",
        "ids": "all",
        "before_id": None,
        "unread_count": 0,
    }
    assert await sync_to_async(inbox.delete)(bob.pk, [rows[0].pk, 999_999]) == [rows[0].pk]
    assert await receive_json(tab) == {"type": "deleted", "ids": [rows[0].pk], "unread_count": 0}
    await tab.disconnect()


async def test_a_user_cannot_touch_another_users_notifications_over_the_socket(
    people: Any,
) -> None:
    bob, alice = people
    [alices] = await anotify(alice, "private")
    bob_tab, alice_tab = await connect_synced(bob), await connect_synced(alice)
    for frame in (
        {"type": "mark_read", "ids": [alices.pk]},
        {"type": "mark_all_read", "before_id": alices.pk + 10},
        {"type": "mark_unread", "ids": [alices.pk]},
        {"type": "mark_read", "ids": [alices.pk + 1000]},
    ):
        await bob_tab.send_json_to(frame)
    # Answered exactly as for an id that does not exist: nothing changed, so no event
    # (the next frame bob gets answers his ping), and alice's row is untouched.
    await bob_tab.send_json_to({"type": "ping"})
    assert await receive_json(bob_tab) == {"type": "pong"}
    assert await alice_tab.receive_nothing(timeout=0.3)
    assert (await Notification.objects.aget(pk=alices.pk)).unread
    assert await inbox.adelete(bob, [alices.pk]) == []
    assert await Notification.objects.filter(pk=alices.pk).aexists()
    await bob_tab.disconnect()
    await alice_tab.disconnect()


async def test_a_change_that_changes_nothing_sends_no_event(people: Any) -> None:
    bob, _ = people
    [row] = await anotify(bob, "x")
    tab = await connect_synced(bob)
    assert await inbox.amark_read(bob, [row.pk]) == [row.pk]
    assert (await receive_json(tab))["type"] == "read"
    assert await inbox.amark_read(bob, [row.pk]) == []  # already read
    assert await inbox.amark_all_read(bob) == 0
    assert await inbox.adelete(bob, [row.pk + 1]) == []
    assert await tab.receive_nothing(timeout=0.3)
    await tab.disconnect()


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        ({"type": "mark_read"}, "ids must be a list of integers, got None."),
        ({"type": "mark_read", "ids": "1,2"}, "ids must be a list of integers, got '1,2'."),
        ({"type": "mark_read", "ids": [1, "2"]}, "ids must be positive 64-bit integers, got '2'."),
        ({"type": "mark_read", "ids": [True]}, "ids must be positive 64-bit integers, got True."),
        ({"type": "mark_unread", "ids": [0]}, "ids must be positive 64-bit integers, got 0."),
        ({"type": "mark_read", "ids": [2**63]}, "ids must be positive 64-bit integers"),
        ({"type": "mark_read", "ids": list(range(1, 1002))}, "At most 1000 ids per call"),
        ({"type": "mark_all_read", "before_id": "5"}, "before_id must be a positive 64-bit"),
        ({"type": "mark_all_read", "before_id": 2**64}, "before_id must be a positive 64-bit"),
    ],
)
async def test_bad_read_frames_get_an_error(
    people: Any, settings: Any, frame: dict[str, Any], message: str
) -> None:
    settings.LIVEBELL = {"MAX_FRAME_BYTES": 65536}
    tab = await connect_synced(people[0])
    await tab.send_json_to(frame)
    error = await receive_json(tab)
    assert error["type"] == "error" and error["code"] == "bad_frame"
    assert message in error["message"]
    await tab.disconnect()


def test_the_python_api_refuses_bad_ids_with_the_same_messages() -> None:
    with pytest.raises(InvalidId, match="ids must be a list of integers"):
        inbox.mark_read(1, None)  # type: ignore[arg-type]
    with pytest.raises(InvalidId, match="before_id must be a positive"):
        inbox.mark_all_read(1, before_id=0)


async def test_admin_actions_and_deletion_push_events(people: Any, admin_client: Any) -> None:
    bob, alice = people
    bobs = await anotify(bob, "b1")
    alices = await anotify(alice, "a1")
    bob_tab, alice_tab = await connect_synced(bob), await connect_synced(alice)
    ids = [bobs[0].pk, alices[0].pk]

    response = await sync_to_async(admin_client.post)(
        "/admin/livebell/notification/",
        {"action": "mark_read", "_selected_action": ids},
    )
    assert response.status_code == 302
    assert await receive_json(bob_tab) == {"type": "read", "ids": [bobs[0].pk], "unread_count": 0}
    assert await receive_json(alice_tab) == {
        "type": "read",
        "ids": [alices[0].pk],
        "unread_count": 0,
    }

    response = await sync_to_async(admin_client.post)(
        f"/admin/livebell/notification/{bobs[0].pk}/delete/", {"post": "yes"}
    )
    assert response.status_code == 302
    assert await receive_json(bob_tab) == {
        "type": "deleted",
        "ids": [bobs[0].pk],
        "unread_count": 0,
    }
    assert await alice_tab.receive_nothing(timeout=0.3)
    await bob_tab.disconnect()
    await alice_tab.disconnect()
