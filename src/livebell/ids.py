"""What a notification id is, and the one parser of ids that clients send.

The socket (``last_id``, ``ids``, ``before_id``), the Python API
(:mod:`livebell.inbox`) and the REST API (bodies, URLs, cursors) all read ids
through these functions, so an id means the same thing everywhere and a bad one
gets the same message. Free of Django imports.
"""

from __future__ import annotations

from collections.abc import Collection

__all__ = ["MAX_ID", "MAX_IDS", "InvalidId", "parse_id", "parse_ids", "quote"]

# The largest value of a BigAutoField on every backend Django supports. Larger
# integers cannot name a row (SQLite raises OverflowError when one is bound as a
# parameter), so they are refused before any query.
MAX_ID = 2**63 - 1
# Most ids one call may name; keeps one request's UPDATE bounded.
MAX_IDS = 1000

_MAX_DIGITS = len(str(MAX_ID))


class InvalidId(ValueError):
    """An id, or a list of ids, that a client sent and livebell cannot use."""


def parse_id(value: object, *, name: str = "id", minimum: int = 1, text: bool = False) -> int:
    """Read one id: an integer from ``minimum`` (1, or 0 for a resume point) to :data:`MAX_ID`.

    Args:
        value: the client's value. A JSON integer; with ``text=True`` (URL paths,
            query strings, cursors) also a string of ASCII digits.
        name: how the client named it, for the error message.
        minimum: the smallest valid value.
        text: accept digit strings.

    Raises:
        InvalidId: anything else (``true`` is not an id, nor is ``"1.0"``).
    """
    if text and isinstance(value, str) and value.isascii() and value.isdigit():
        digits = value.lstrip("0") or "0"
        # Length first: int() of a huge digit string is slow, or refused past 4,300 digits.
        if len(digits) <= _MAX_DIGITS:
            value = int(digits)
    # bool is an int subclass; true is not an id.
    if isinstance(value, int) and not isinstance(value, bool) and minimum <= value <= MAX_ID:
        return value
    kind = "non-negative" if minimum == 0 else "positive"
    raise InvalidId(f"{name} must be a {kind} 64-bit integer, got {quote(value)}.")


def parse_ids(value: object, *, name: str = "ids") -> list[int]:
    """Read a list of notification ids: sorted, without duplicates.

    Raises:
        InvalidId: not a list (JSON array; in Python also a tuple or set) of at most
            :data:`MAX_IDS` positive 64-bit integers.
    """
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple, set, frozenset)):
        raise InvalidId(f"{name} must be a list of integers, got {quote(value)}.")
    ids: Collection[object] = value
    if len(ids) > MAX_IDS:
        raise InvalidId(f"At most {MAX_IDS} {name} per call, got {len(ids)}.")
    parsed = set()
    for item in ids:
        try:
            parsed.add(parse_id(item))
        except InvalidId:
            raise InvalidId(
                f"{name} must be positive 64-bit integers, got {quote(item)}."
            ) from None
    return sorted(parsed)


def quote(value: object, limit: int = 40) -> str:
    """``repr(value)`` cut to ``limit`` characters, to quote client input in a message."""
    shown = repr(value)
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"
