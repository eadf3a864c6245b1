"""The ids a client may send: what is one, what is not, lists of them."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from livebell.ids import MAX_ID, MAX_IDS, InvalidId, parse_id, parse_ids


@given(st.integers(1, MAX_ID))
def test_every_id_in_range_is_read_back_as_itself(value: int) -> None:
    assert parse_id(value) == value
    assert parse_id(str(value), text=True) == value


@pytest.mark.parametrize(
    "value", [0, -1, MAX_ID + 1, True, False, 1.0, "1", None, [1], "0" * 5000 + "1"]
)
def test_what_is_not_an_id(value: Any) -> None:
    with pytest.raises(InvalidId, match="id must be a positive 64-bit integer"):
        parse_id(value)


@pytest.mark.parametrize("text", ["-1", "1e3", "", " 1", "١٢", "1.0", "9" * 19, "9" * 5000])
def test_what_is_not_an_id_in_a_url(text: str) -> None:
    with pytest.raises(InvalidId):
        parse_id(text, text=True)
    assert parse_id("0" * 5000 + "7", text=True) == 7  # leading zeros, however many


def test_a_resume_point_may_be_zero() -> None:
    assert parse_id(0, name="last_id", minimum=0) == 0
    with pytest.raises(InvalidId, match="last_id must be a non-negative"):
        parse_id(-1, name="last_id", minimum=0)


def test_id_lists_are_sorted_deduplicated_and_bounded() -> None:
    assert parse_ids([3, 1, 3]) == [1, 3]
    assert parse_ids((2, 1)) == [1, 2]
    assert parse_ids(list(range(1, MAX_IDS + 1)))[-1] == MAX_IDS
    with pytest.raises(InvalidId, match="At most 1000 ids"):
        parse_ids(list(range(1, MAX_IDS + 2)))
    for bad in ("1,2", None, 3, {"1": 1}, b"12"):
        with pytest.raises(InvalidId, match="ids must be a list of integers"):
            parse_ids(bad)
    with pytest.raises(InvalidId, match="ids must be positive 64-bit integers, got True"):
        parse_ids([1, True])
