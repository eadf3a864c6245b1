"""The layer messages: what goes through the channel layer comes back as it left."""

from __future__ import annotations

import dataclasses
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from livebell.ids import MAX_ID
from livebell.layer import messages
from livebell.layer.groups import site_key
from livebell.layer.messages import InboxChange, Push, RecheckSessions, SessionEnded

pushes = st.builds(
    Push,
    group=st.text(min_size=1, max_size=20),
    id=st.integers(1, MAX_ID),
    previous_id=st.integers(0, MAX_ID),
    unread_count=st.integers(0, 10**6),
    revision=st.integers(0, 10**9),
    frame=st.text(max_size=50),
)


others = st.one_of(
    st.builds(InboxChange, st.text(min_size=1), st.integers(0), st.integers(0), st.text()),
    st.builds(SessionEnded, st.text(min_size=1), st.text(min_size=1)),
    st.builds(RecheckSessions, st.text(min_size=1)),
)


@given(st.lists(pushes, min_size=1, max_size=12), st.integers(1, 5))
def test_pushes_travel_in_batches_and_come_back_as_they_left_with_the_sites_key(
    sent: list[Push], batch_size: int
) -> None:
    sends = messages.encode(sent, batch_size=batch_size)
    if len(sent) > 1:
        assert len(sends) == -(-len(sent) // batch_size)  # ceil: batches of batch_size
    received = [m for _, body in sends for m in messages.decode(orjson.loads(orjson.dumps(body)))]
    assert received == [p._replace(site=site_key()) for p in sent]


@given(others)
def test_other_messages_go_to_their_group_and_come_back_as_they_left_with_the_sites_key(
    sent: Any,
) -> None:
    [(group, body)] = messages.encode([sent], batch_size=10)
    assert group == sent.group
    assert list(messages.decode(body)) == [dataclasses.replace(sent, site=site_key())]


def test_a_layer_message_without_a_site_key_is_refused() -> None:
    [(_, body)] = messages.encode([RecheckSessions("g")], batch_size=10)
    del body["site"]
    with pytest.raises(messages.MalformedMessage, match="'site'"):
        list(messages.decode(body))


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"type": "livebell.batch", "items": [["short"]]},
        {"type": "livebell.batch", "items": None},
        {"type": "livebell.push", "group": "g"},
        {"type": "livebell.push", "group": "g", "id": "1", "previous_id": 0,
         "unread_count": 0, "revision": 0, "frame": "{}"},
        {"type": "livebell.inbox", "group": 5, "unread_count": 0, "revision": 0, "frame": ""},
        {"type": "somebody.else"},
    ],
)  # fmt: skip
def test_what_livebell_did_not_write_is_refused(body: dict[str, Any]) -> None:
    with pytest.raises(messages.MalformedMessage):
        list(messages.decode(body))
