"""Concurrent anotify() calls share one transaction, and each still gets exactly
its own rows, its own errors, and pushes chained in id order."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from django.contrib.auth import get_user_model

from livebell import anotify, sending
from livebell.models import Notification
from tests.conftest import connect_synced, count_batches, receive_json

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture
def batch_sizes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    return count_batches(monkeypatch, sending._store_together)


async def test_concurrent_calls_share_a_transaction_and_chain_per_user(
    layer_kind: str, amake_user: Any, batch_sizes: list[int]
) -> None:
    bob, carol = await amake_user("bob"), await amake_user("carol")
    await anotify(bob, "before")
    bob_tab, carol_tab = await connect_synced(bob), await connect_synced(carol)
    batch_sizes.clear()

    results = await asyncio.gather(
        *(anotify(bob if i % 3 else [bob, carol], f"n{i}", data={"i": i}) for i in range(12))
    )
    assert len(batch_sizes) < 12 and sum(batch_sizes) == 12, batch_sizes
    for i, rows in enumerate(results):  # each call gets its own rows, nobody else's
        assert [r.verb for r in rows] == [f"n{i}"] * len(rows)
        assert {r.recipient_id for r in rows} == ({bob.pk} if i % 3 else {bob.pk, carol.pk})
    # Each returned row's id is the stored row that holds its verb, data and recipient.
    stored = {n.pk: n async for n in Notification.objects.all()}
    for rows in results:
        for row in rows:
            assert (stored[row.pk].verb, stored[row.pk].data, stored[row.pk].recipient_id) == (
                row.verb,
                row.data,
                row.recipient_id,
            )

    bob_ids = [r.pk for rows in results for r in rows if r.recipient_id == bob.pk]
    frames = [await receive_json(bob_tab) for _ in bob_ids]
    # Every push once, in id order, each unread count one more than the last:
    # the chained prev_ids let the socket take them live, without a catch-up.
    assert [f["notification"]["id"] for f in frames] == sorted(bob_ids)
    assert [f["unread_count"] for f in frames] == list(range(2, 2 + len(bob_ids)))
    assert await bob_tab.receive_nothing(timeout=0.2)
    carol_frames = [await receive_json(carol_tab) for _ in range(4)]
    assert [f["unread_count"] for f in carol_frames] == [1, 2, 3, 4]
    assert await Notification.objects.acount() == 1 + 12 + 4
    await bob_tab.disconnect()
    await carol_tab.disconnect()


async def test_a_bad_call_fails_alone(amake_user: Any, batch_sizes: list[int]) -> None:
    bob = await amake_user("bob")
    ghost = get_user_model()(pk=987654, username="ghost")  # no such row
    outcomes = await asyncio.gather(
        anotify(bob, "fine 1"),
        anotify(bob, ""),  # bad argument: refused before any write
        anotify(ghost, "to nobody"),  # fails in the database: the batch is retried
        anotify(bob, "fine 2"),
        return_exceptions=True,
    )
    assert isinstance(outcomes[1], ValueError) and "verb" in str(outcomes[1])
    assert isinstance(outcomes[2], ValueError) and "987654" in str(outcomes[2])
    assert [rows[0].verb for rows in (outcomes[0], outcomes[3])] == ["fine 1", "fine 2"]
    verbs = [n.verb async for n in Notification.objects.order_by("pk")]
    assert verbs == ["fine 1", "fine 2"]
    assert max(batch_sizes) > 1, batch_sizes


def nested(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


# What json (the database's encoder) takes and orjson (the push's) refuses: integers
# outside 64 bits; 300 levels (within DATA_MAX_BYTES, past orjson's 255).
@pytest.mark.parametrize("data", [{"n": 2**64}, {"n": [-(2**63) - 1]}, {"deep": nested(300)}])
async def test_data_the_push_cannot_encode_is_refused_before_the_insert(
    amake_user: Any, data: dict[str, Any]
) -> None:
    bob = await amake_user("bob")
    tab = await connect_synced(bob)
    outcomes = await asyncio.gather(
        anotify(bob, "fine 1"), anotify(bob, "bad", data=data), anotify(bob, "fine 2"),
        return_exceptions=True,
    )  # fmt: skip
    assert isinstance(outcomes[1], ValueError), outcomes[1]
    assert "cannot be sent" in str(outcomes[1])
    verbs = [n.verb async for n in Notification.objects.order_by("pk")]
    assert verbs == ["fine 1", "fine 2"]
    pushed = [(await receive_json(tab))["notification"]["verb"] for _ in range(2)]
    assert sorted(pushed) == ["fine 1", "fine 2"]
    await tab.disconnect()


# Values whose text forms need quoting or escaping: as JSON, inside an array, in SQL.
AWKWARD_DATA = [
    {"quote": 'say "hi"', "backslash": "C:\\path\\", "both": '\\"'},
    {"braces": "{not, an, array}", "comma": "a,b", "null": None, "NULL": "NULL"},
    {"unicode": "你好 — ünïcode \u2028", "newline": "line\nbreak\ttab", "empty": ""},
    {"nested": [{"a": [1, 2.5, True, False, None]}, []], "number": -1e-7, "big": 2**53},
    {},
]


def test_calls_stored_together_keep_their_own_values_exactly(
    make_user: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Calls stored in one transaction insert their data and times as arrays (text
    forms, on PostgreSQL): each row reads back with exactly its call's values."""
    bob, carol = make_user("bob"), make_user("carol")
    calls = [
        sending._Call(bob if i % 2 else carol, f"n{i}", None, None, None, data, None)
        for i, data in enumerate(AWKWARD_DATA)
    ]
    stores: list[int] = []
    store = sending._store

    def counted(plans: Any, using: str) -> Any:
        stores.append(len(plans))
        return store(plans, using)

    monkeypatch.setattr(sending, "_store", counted)
    outcomes = sending._store_calls(calls)
    # Stored together: a failed shared transaction would have been retried call by call.
    assert stores == [len(AWKWARD_DATA)]
    rows = [row for outcome in outcomes for row in outcome[0]]  # type: ignore[index]
    assert [row.data for row in rows] == AWKWARD_DATA
    stored = {n.pk: n for n in Notification.objects.filter(pk__in=[row.pk for row in rows])}
    for row in rows:
        assert stored[row.pk].data == row.data
        assert stored[row.pk].created_at == row.created_at
        assert stored[row.pk].verb == row.verb
    # Each call has its own time (the calls were drafted one after the other).
    assert len({row.created_at for row in rows}) > 1
