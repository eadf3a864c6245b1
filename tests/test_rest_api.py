"""The REST API's behaviour: list, filters, pagination, count, mark read/unread, delete."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from livebell import inbox, notify
from livebell.ids import MAX_IDS
from livebell.models import Notification
from livebell.payloads import ActorPayload, NotificationPayload, TargetPayload, notification_payload
from livebell.rest.serializers import ActorSerializer, NotificationSerializer, TargetSerializer
from livebell.storage import state

pytestmark = [pytest.mark.django_db]

LIST = "/api/notifications/"
COUNT = "/api/notifications/unread-count/"
MARK_READ = "/api/notifications/mark-read/"
MARK_UNREAD = "/api/notifications/mark-unread/"
MARK_ALL_READ = "/api/notifications/mark-all-read/"


def seed(user: Any, count: int, **fields: Any) -> list[int]:
    """Store ``count`` notifications for ``user`` in one statement; return their ids, ascending.

    Written outside livebell's API, so the user's counters are rebuilt afterwards.
    """
    fields.setdefault("verb", "waved")
    Notification.objects.bulk_create(
        Notification(recipient=user, created_at=timezone.now(), **fields) for _ in range(count)
    )
    state.rebuild([user.pk])
    return list(Notification.objects.for_user(user).order_by("id").values_list("id", flat=True))


def ids_of(response: Any) -> list[int]:
    return [item["id"] for item in response.json()["results"]]


@pytest.fixture
def bob(make_user: Any) -> Any:
    return make_user("bob")


@pytest.fixture
def alice(make_user: Any) -> Any:
    return make_user("alice")


@pytest.fixture
def client(rest_client: Any, bob: Any) -> Any:
    return rest_client(bob)


# --- The list -------------------------------------------------------------------------


def test_list_items_are_exactly_the_socket_payload(client: Any, bob: Any, alice: Any) -> None:
    from tests.testapp.models import Post

    post = Post.objects.create(title="My post")
    [with_target] = notify(bob, "commented", actor=alice, target=post, data={"x": [1]})
    [bare] = notify(bob, "deploy finished", level="success")

    response = client.get(LIST)

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["next"] is None and body["previous"] is None
    rows = Notification.objects.with_related().in_bulk([with_target.pk, bare.pk])
    assert body["results"] == [
        notification_payload(rows[bare.pk]),
        notification_payload(rows[with_target.pk]),
    ]
    assert body["results"][1]["target"]["url"] == f"/posts/{post.pk}/"
    assert body["results"][1]["actor"] == {"id": alice.pk, "username": "alice"}


def test_serializer_documents_exactly_the_payload_keys() -> None:
    # The declared fields only describe notification_payload() in the schema: keep them equal.
    assert set(NotificationSerializer().fields) == set(NotificationPayload.__annotations__)
    assert set(ActorSerializer().fields) == set(ActorPayload.__annotations__)
    assert set(TargetSerializer().fields) == set(TargetPayload.__annotations__)


def test_list_is_newest_first_with_a_default_page_of_20(client: Any, bob: Any) -> None:
    ids = seed(bob, 25)
    response = client.get(LIST)
    assert ids_of(response) == ids[::-1][:20]
    assert response.json()["next"].startswith("http://testserver/api/notifications/?cursor=")


def test_page_size_is_honoured_and_capped_at_100(client: Any, bob: Any) -> None:
    ids = seed(bob, 120)
    assert ids_of(client.get(LIST, {"page_size": 7})) == ids[::-1][:7]
    assert len(ids_of(client.get(LIST, {"page_size": 101}))) == 100
    assert len(ids_of(client.get(LIST, {"page_size": "9" * 5000}))) == 100


@pytest.mark.parametrize("value", ["0", "-1", "abc", "", "1.5", "+3", "٣"])
def test_bad_page_size_is_400(client: Any, value: str) -> None:
    response = client.get(LIST, {"page_size": value})
    assert response.status_code == 400
    assert response.json()["detail"].startswith("page_size must be a positive integer")


def _cursor(query: str) -> str:
    return base64.b64encode(query.encode()).decode()


@pytest.mark.parametrize(
    "cursor",
    ["nonsense", _cursor("p=abc"), _cursor("p=-1"), _cursor("p=1e3"), _cursor("o=x")],
)
def test_invalid_cursor_is_404_not_a_server_error(client: Any, bob: Any, cursor: str) -> None:
    seed(bob, 3)
    response = client.get(LIST, {"cursor": cursor})
    assert response.status_code == 404
    assert response.json() == {
        "detail": "Invalid cursor: follow the next or previous links as given."
    }


def test_following_next_while_new_rows_arrive_neither_repeats_nor_skips(
    client: Any, bob: Any
) -> None:
    original = seed(bob, 25)
    seen: list[int] = []
    url: str | None = f"{LIST}?page_size=10"
    pages = 0
    while url:
        response = client.get(url)
        assert response.status_code == 200
        seen += ids_of(response)
        url = response.json()["next"]
        pages += 1
        # Newer notifications arrive between every two pages (ids above all of the first 25).
        seed(bob, 3)
    assert seen == original[::-1]
    assert pages == 3


def test_previous_leads_back_to_the_newer_page(client: Any, bob: Any) -> None:
    ids = seed(bob, 15)
    first = client.get(LIST, {"page_size": 10}).json()
    second = client.get(first["next"]).json()
    assert [n["id"] for n in second["results"]] == ids[::-1][10:]
    back = client.get(second["previous"]).json()
    assert [n["id"] for n in back["results"]] == ids[::-1][:10]


# --- Filters --------------------------------------------------------------------------


def test_filters(client: Any, bob: Any) -> None:
    [liked] = notify(bob, "liked your post")
    [failed] = notify(bob, "deploy failed", level="error")
    [read] = notify(bob, "liked your post", level="error")
    Notification.objects.filter(pk=read.pk).update(read_at=timezone.now())

    assert ids_of(client.get(LIST, {"unread": "true"})) == [failed.pk, liked.pk]
    assert ids_of(client.get(LIST, {"unread": "false"})) == [read.pk]
    assert ids_of(client.get(LIST, {"verb": "liked your post"})) == [read.pk, liked.pk]
    assert ids_of(client.get(LIST, {"verb": "liked"})) == []  # exact match
    assert ids_of(client.get(LIST, {"level": "error"})) == [read.pk, failed.pk]
    assert ids_of(client.get(LIST, {"level": "error", "unread": "true"})) == [failed.pk]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"unread": "yes"}, "unread must be true or false, got 'yes'."),
        ({"unread": "True"}, "unread must be true or false, got 'True'."),
        ({"unread": ""}, "unread must be true or false, got ''."),
        ({"level": "loud"}, "level must be one of info, success, warning, error; got 'loud'."),
        ({"verb": ""}, "verb must be 1 to 128 characters long."),
        ({"verb": "x" * 129}, "verb must be 1 to 128 characters long."),
    ],
)
def test_bad_filter_values_are_400_with_a_clear_message(
    client: Any, params: dict[str, str], message: str
) -> None:
    response = client.get(LIST, params)
    assert response.status_code == 400
    assert response.json() == {"detail": message}


# --- Query counts ---------------------------------------------------------------------


def _queries(client: Any, url: str, params: dict[str, Any] | None = None) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url, params)
    assert response.status_code == 200
    return len(captured)


@pytest.mark.parametrize("page_size", [5, 50])
def test_a_page_costs_constant_queries(
    client: Any, bob: Any, alice: Any, page_size: int, django_assert_max_num_queries: Any
) -> None:
    from tests.testapp.models import Post, Tag

    post, tag = Post.objects.create(title="p"), Tag.objects.create(name="t")
    for index in range(60):
        notify(bob, f"n{index}", actor=alice, target=post if index % 2 else tag)
    # Cold content-type cache: the worst case (one query per distinct target type, once).
    ContentType.objects.clear_cache()
    # session + user + the page (actors joined) + the 2 content types
    with django_assert_max_num_queries(5):
        response = client.get(LIST, {"page_size": page_size})
    assert len(response.json()["results"]) == page_size
    # Warm: session + user + the page, whatever the page size.
    assert _queries(client, LIST, {"page_size": page_size}) == 3


def test_count_costs_one_query(client: Any, bob: Any, django_assert_max_num_queries: Any) -> None:
    seed(bob, 30)
    with django_assert_max_num_queries(3):  # session + user + the inbox state row
        response = client.get(COUNT)
    assert response.json() == {"count": 30}


# --- Unread count, mark read / unread / all -------------------------------------------


def test_unread_count(client: Any, bob: Any, alice: Any) -> None:
    assert client.get(COUNT).json() == {"count": 0}
    seed(bob, 3)
    seed(alice, 2)
    newest = Notification.objects.for_user(bob).first()
    assert newest is not None
    inbox.mark_read(bob, [newest.pk])
    assert client.get(COUNT).json() == {"count": 2}


def test_mark_read_and_unread(client: Any, bob: Any) -> None:
    a, b, c = seed(bob, 3)

    response = client.post(MARK_READ, {"ids": [c, a, a]}, format="json")
    assert response.status_code == 200
    assert response.json() == {"ids": [a, c], "unread_count": 1}
    # Already read: nothing changes.
    assert client.post(MARK_READ, {"ids": [a]}, format="json").json() == {
        "ids": [],
        "unread_count": 1,
    }
    assert client.post(MARK_UNREAD, {"ids": [a, b]}, format="json").json() == {
        "ids": [a],
        "unread_count": 2,
    }
    assert set(Notification.objects.unread().values_list("id", flat=True)) == {a, b}
    assert client.post(MARK_READ, {"ids": []}, format="json").json() == {
        "ids": [],
        "unread_count": 2,
    }


def test_mark_all_read_up_to_before_id(client: Any, bob: Any) -> None:
    ids = seed(bob, 5)
    response = client.post(MARK_ALL_READ, {"before_id": ids[2]}, format="json")
    assert response.status_code == 200
    assert response.json() == {"marked": 3, "unread_count": 2}
    assert client.post(MARK_ALL_READ, {"before_id": None}, format="json").json() == {
        "marked": 2,
        "unread_count": 0,
    }


def test_mark_all_read_without_a_body(client: Any, bob: Any) -> None:
    seed(bob, 4)
    response = client.post(MARK_ALL_READ)
    assert response.status_code == 200
    assert response.json() == {"marked": 4, "unread_count": 0}


def test_delete(client: Any, bob: Any) -> None:
    a, b = seed(bob, 2)
    Notification.objects.filter(pk=b).update(read_at=timezone.now())
    response = client.delete(f"{LIST}{a}/")
    assert response.status_code == 204
    assert response.content == b""
    assert list(Notification.objects.values_list("id", flat=True)) == [b]
    gone = client.delete(f"{LIST}{a}/")
    assert gone.status_code == 404
    assert gone.json() == {"detail": "Not found."}


@pytest.mark.parametrize("segment", ["0", "-1", "abc", "1.0", str(2**63), "9" * 400, "%C2%B2"])
def test_delete_of_a_malformed_id_is_the_same_json_404(client: Any, segment: str) -> None:
    response = client.delete(f"{LIST}{segment}/")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


def test_get_on_a_write_endpoint_is_405(client: Any) -> None:
    for url in (MARK_READ, MARK_UNREAD, MARK_ALL_READ, f"{LIST}1/"):
        assert client.get(url).status_code == 405
    assert client.post(LIST, {}, format="json").status_code == 405


# --- Bad bodies -----------------------------------------------------------------------


@pytest.mark.parametrize("url", [MARK_READ, MARK_UNREAD, MARK_ALL_READ])
def test_body_that_is_not_json_is_400(client: Any, url: str) -> None:
    response = client.post(url, "{oops", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["detail"].startswith("JSON parse error")


@pytest.mark.parametrize("url", [MARK_READ, MARK_UNREAD, MARK_ALL_READ])
def test_body_that_is_not_an_object_is_400(client: Any, url: str) -> None:
    response = client.post(url, [1, 2], format="json")
    assert response.status_code == 400
    assert response.json()["detail"].startswith("The body must be a JSON object")


@pytest.mark.parametrize("url", [MARK_READ, MARK_UNREAD, MARK_ALL_READ])
def test_form_body_is_415(client: Any, url: str) -> None:
    response = client.post(url, {"ids": "1"})  # multipart, as a form would send
    assert response.status_code == 415
    assert "Unsupported media type" in response.json()["detail"]


@pytest.mark.parametrize("url", [MARK_READ, MARK_UNREAD])
@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, 'The body needs "ids": a list of notification ids.'),
        ({"ids": "1,2"}, "ids must be a list of integers, got '1,2'."),
        ({"ids": None}, "ids must be a list of integers, got None."),
        ({"ids": 3}, "ids must be a list of integers, got 3."),
        ({"ids": {"1": 1}}, "ids must be a list of integers, got {'1': 1}."),
        ({"ids": [1, "2"]}, "ids must be positive 64-bit integers, got '2'."),
        ({"ids": [1.5]}, "ids must be positive 64-bit integers, got 1.5."),
        ({"ids": [True]}, "ids must be positive 64-bit integers, got True."),
        ({"ids": [0]}, "ids must be positive 64-bit integers, got 0."),
        ({"ids": [-4]}, "ids must be positive 64-bit integers, got -4."),
        ({"ids": [2**63]}, f"ids must be positive 64-bit integers, got {2**63}."),
        ({"ids": list(range(1, MAX_IDS + 2))}, f"At most {MAX_IDS} ids per call, got 1001."),
    ],
)
def test_bad_ids_are_400_with_a_clear_message(
    client: Any, bob: Any, url: str, body: Any, message: str
) -> None:
    [n] = seed(bob, 1)
    response = client.post(url, body, format="json")
    assert response.status_code == 400
    assert response.json() == {"detail": message}
    assert Notification.objects.get(pk=n).read_at is None  # nothing changed


def test_the_largest_allowed_number_of_ids_is_accepted(client: Any, bob: Any) -> None:
    [n] = seed(bob, 1)
    response = client.post(MARK_READ, {"ids": list(range(1, MAX_IDS + 1))}, format="json")
    assert response.status_code == 200
    assert response.json()["ids"] == ([n] if n <= MAX_IDS else [])


@pytest.mark.parametrize("before_id", ["5", True, 0, -1, 1.0, [1], 2**63])
def test_bad_before_id_is_400(client: Any, bob: Any, before_id: Any) -> None:
    seed(bob, 2)
    response = client.post(MARK_ALL_READ, {"before_id": before_id}, format="json")
    assert response.status_code == 400
    assert response.json()["detail"].startswith("before_id must be a positive 64-bit integer, got ")
    assert Notification.objects.unread().count() == 2
