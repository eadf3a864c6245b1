"""Reading the JSON bodies of the write endpoints, with a clear 400 for a bad one.

DRF has already parsed the JSON (a body that is not JSON never gets here: DRF
answers 400 "JSON parse error", or 415 for another content type). These check
the parsed value; ids are validated by :func:`livebell.inbox.clean_ids`, the same
rules the socket applies.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from livebell import inbox
from livebell.rest.errors import InvalidRequest
from livebell.rest.ids import MAX_ID, shorten

__all__ = ["read_before_id", "read_ids"]


def read_ids(data: object) -> list[int]:
    """The ``ids`` of a ``{"ids": [...]}`` body: sorted, without duplicates.

    Raises:
        InvalidRequest: not an object, no ``ids``, or ``ids`` not a list of at most
            :data:`livebell.inbox.MAX_IDS` integers from 1 to :data:`MAX_ID`.
    """
    body = _json_object(data, example='{"ids": [1, 2]}')
    if "ids" not in body:
        raise InvalidRequest('The body needs "ids": a list of notification ids.')
    try:
        ids = inbox.clean_ids(body["ids"])
    except (TypeError, ValueError) as exc:
        raise InvalidRequest(str(exc)) from None
    return ids


def read_before_id(data: object) -> int | None:
    """The optional ``before_id`` of a mark-all-read body (None when absent or null).

    Raises:
        InvalidRequest: not an object, or ``before_id`` not an integer from 1 to
            :data:`MAX_ID`.
    """
    body = _json_object(data, example='{"before_id": 42}')
    value = body.get("before_id")
    if value is None:
        return None
    # bool is an int subclass; true is not an id.
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_ID:
        raise InvalidRequest(
            f"before_id must be an integer from 1 to {MAX_ID}, or null; got {shorten(value)}."
        )
    return value


def _json_object(data: object, *, example: str) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise InvalidRequest(f"The body must be a JSON object, e.g. {example}.")
    return data
