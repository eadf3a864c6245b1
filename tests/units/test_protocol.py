"""The wire frames: client frames parsed into their types, server frames encoded."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from livebell import (
    protocol,
)
from livebell.ids import MAX_ID


@pytest.mark.parametrize(
    ("text", "frame"),
    [
        ('{"type": "ping"}', protocol.Ping()),
        ('{"type": "resume", "last_id": 0}', protocol.Resume(0)),
        ('{"type": "resume", "last_id": "12"}', protocol.Resume(12)),
        ('{"type": "mark_read", "ids": [3, 1]}', protocol.MarkRead([1, 3])),
        ('{"type": "mark_unread", "ids": []}', protocol.MarkUnread([])),
        ('{"type": "mark_all_read"}', protocol.MarkAllRead(None)),
        ('{"type": "mark_all_read", "before_id": 9}', protocol.MarkAllRead(9)),
    ],
)
def test_client_frames_are_parsed_into_their_types(text: str, frame: Any) -> None:
    assert protocol.parse_client_frame(text, max_bytes=4096) == frame


@pytest.mark.parametrize(
    ("text", "code"),
    [
        (None, "binary_not_supported"),
        ("x" * 5000, "frame_too_large"),
        ('"é"' * 700, "frame_too_large"),  # 1,400 characters, 2,800 bytes: measured in bytes
        ("{oops", "bad_json"),
        ("[]", "bad_frame"),
        ('{"type": 1}', "bad_frame"),
        ('{"type": "fly"}', "unknown_type"),
        ('{"type": "resume"}', "bad_last_id"),
        ('{"type": "mark_read", "ids": "1"}', "bad_frame"),
        ('{"type": "mark_all_read", "before_id": 0}', "bad_frame"),
    ],
)
def test_bad_client_frames_name_what_is_wrong(text: str | None, code: str) -> None:
    with pytest.raises(protocol.ProtocolError) as error:
        protocol.parse_client_frame(text, max_bytes=2048 if text and "é" in text else 4096)
    assert error.value.code == code and error.value.message


def test_a_frame_can_be_given_a_fresher_count() -> None:
    frame = protocol.notification_frame({"id": 1}, 3)  # type: ignore[typeddict-item]
    assert orjson.loads(protocol.with_unread_count(frame, 7)) == {
        "type": "notification",
        "notification": {"id": 1},
        "unread_count": 7,
    }


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=10,
)


@given(
    st.dictionaries(st.text().filter(lambda key: key != "id"), json_values, max_size=6),
    st.integers(1, MAX_ID),
    st.integers(0, 2**31),
)
def test_frames_made_from_one_payload_are_the_frames_encoded_whole(
    rest: dict[str, Any], notification_id: int, unread_count: int
) -> None:
    payload: Any = {"id": 0, **rest}
    frame = protocol.notification_frames(payload)
    expected = protocol.notification_frame({**payload, "id": notification_id}, unread_count)
    assert frame(notification_id, unread_count) == expected


def test_a_frame_is_made_of_ints_only() -> None:
    frame = protocol.notification_frames({"id": 0})  # type: ignore[typeddict-item]
    assert orjson.loads(frame(5, 2)) == {
        "type": "notification",
        "notification": {"id": 5},
        "unread_count": 2,
    }
    for bad in ((True, 1), (1, False), ("1", 1), (1, 1.0)):
        with pytest.raises(TypeError):
            frame(*bad)


def test_nesting_is_measured_without_recursion() -> None:
    deep: Any = []
    for _ in range(100_000):
        deep = [deep]
    assert protocol.too_deep(deep) and not protocol.too_deep({"ids": [1, 2]})
    with pytest.raises(protocol.ProtocolError, match="nest"):
        protocol.parse_client_frame('{"type": "ping", "x": ' + "[" * 20 + "]" * 20 + "}",
                                    max_bytes=4096)  # fmt: skip
