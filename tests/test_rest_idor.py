"""Bob cannot see or touch alice's notifications through the REST API, whatever he sends,
and no answer tells him whether one of her ids exists."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from livebell import inbox, notify
from livebell.models import Notification

pytestmark = [pytest.mark.django_db]

LIST = "/api/notifications/"


@pytest.fixture
def inboxes(make_user: Any) -> dict[str, Any]:
    """Bob with one unread and one read notification; alice with the same, and a gap id."""
    bob, alice = make_user("bob"), make_user("alice")
    [bob_unread] = notify(bob, "bob unread")
    [bob_read] = notify(bob, "bob read")
    [alice_unread] = notify(alice, "alice unread")
    [alice_read] = notify(alice, "alice read")
    inbox.mark_read(bob, [bob_read.pk])
    inbox.mark_read(alice, [alice_read.pk])
    newest = Notification.objects.order_by("-id").values_list("id", flat=True)[0]
    return {
        "bob": bob,
        "alice": alice,
        "bob_unread": bob_unread.pk,
        "bob_read": bob_read.pk,
        "alice_unread": alice_unread.pk,
        "alice_read": alice_read.pk,
        "missing": newest + 1000,  # an id that exists for nobody
    }


def alice_state(inboxes: dict[str, Any]) -> list[tuple[Any, ...]]:
    return list(
        Notification.objects.for_user(inboxes["alice"])
        .order_by("id")
        .values_list("id", "verb", "read_at")
    )


def same_response(first: Any, second: Any) -> None:
    assert first.status_code == second.status_code
    assert first.content == second.content
    assert first["Content-Type"] == second["Content-Type"]


def test_list_and_count_show_only_bobs_own(rest_client: Any, inboxes: dict[str, Any]) -> None:
    client = rest_client(inboxes["bob"])
    for params in ({}, {"unread": "true"}, {"unread": "false"}, {"verb": "alice unread"}):
        ids = {n["id"] for n in client.get(LIST, params).json()["results"]}
        assert ids <= {inboxes["bob_unread"], inboxes["bob_read"]}
    assert client.get(f"{LIST}unread-count/").json() == {"count": 1}


def test_a_cursor_pointing_into_alices_ids_shows_only_bobs(
    rest_client: Any, inboxes: dict[str, Any]
) -> None:
    client = rest_client(inboxes["bob"])
    for position in (inboxes["alice_unread"], inboxes["alice_read"] + 1, inboxes["missing"]):
        for query in (f"p={position}", f"p={position}&r=1"):  # forward and backward
            cursor = base64.b64encode(query.encode()).decode()
            response = client.get(LIST, {"cursor": cursor})
            assert response.status_code == 200
            ids = {n["id"] for n in response.json()["results"]}
            assert ids <= {inboxes["bob_unread"], inboxes["bob_read"]}


@pytest.mark.parametrize(
    ("path", "alices"),
    [("mark-read/", "alice_unread"), ("mark-unread/", "alice_read")],
)
def test_marking_alices_ids_changes_nothing_and_looks_like_missing_ids(
    rest_client: Any, inboxes: dict[str, Any], path: str, alices: str
) -> None:
    client = rest_client(inboxes["bob"])
    before = alice_state(inboxes)

    with_alices = client.post(f"{LIST}{path}", {"ids": [inboxes[alices]]}, format="json")
    with_missing = client.post(f"{LIST}{path}", {"ids": [inboxes["missing"]]}, format="json")

    assert with_alices.status_code == 200
    assert with_alices.json() == {"ids": [], "unread_count": 1}
    same_response(with_alices, with_missing)
    assert alice_state(inboxes) == before


def test_mixed_ids_change_only_bobs(rest_client: Any, inboxes: dict[str, Any]) -> None:
    client = rest_client(inboxes["bob"])
    before = alice_state(inboxes)
    every = [inboxes[k] for k in ("bob_unread", "bob_read", "alice_unread", "alice_read")]
    assert client.post(f"{LIST}mark-read/", {"ids": every}, format="json").json() == {
        "ids": [inboxes["bob_unread"]],
        "unread_count": 0,
    }
    assert client.post(f"{LIST}mark-unread/", {"ids": every}, format="json").json() == {
        "ids": sorted([inboxes["bob_unread"], inboxes["bob_read"]]),
        "unread_count": 2,
    }
    assert alice_state(inboxes) == before


def test_mark_all_read_touches_only_bobs(rest_client: Any, inboxes: dict[str, Any]) -> None:
    client = rest_client(inboxes["bob"])
    before = alice_state(inboxes)
    for body in ({}, {"before_id": inboxes["alice_unread"]}, {"before_id": inboxes["missing"]}):
        client.post(f"{LIST}mark-all-read/", body, format="json")
    assert alice_state(inboxes) == before
    assert not Notification.objects.for_user(inboxes["bob"]).unread().exists()


def test_deleting_alices_id_is_exactly_like_deleting_a_missing_one(
    rest_client: Any, inboxes: dict[str, Any]
) -> None:
    client = rest_client(inboxes["bob"])
    before = alice_state(inboxes)
    for alices in ("alice_unread", "alice_read"):
        response = client.delete(f"{LIST}{inboxes[alices]}/")
        assert response.status_code == 404
        same_response(response, client.delete(f"{LIST}{inboxes['missing']}/"))
    assert alice_state(inboxes) == before


def test_error_answers_do_not_depend_on_whose_ids_are_sent(
    rest_client: Any, inboxes: dict[str, Any]
) -> None:
    # A bad body is refused the same way whether it names alice's ids or missing ones.
    client = rest_client(inboxes["bob"])
    for path in ("mark-read/", "mark-unread/"):
        for extra in ([0], ["x"]):
            with_alices = client.post(
                f"{LIST}{path}", {"ids": [inboxes["alice_unread"], *extra]}, format="json"
            )
            with_missing = client.post(
                f"{LIST}{path}", {"ids": [inboxes["missing"], *extra]}, format="json"
            )
            assert with_alices.status_code == 400
            same_response(with_alices, with_missing)
