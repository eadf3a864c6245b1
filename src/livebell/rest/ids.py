"""What a notification id may be, as the REST API reads it from URLs and cursors."""

from __future__ import annotations

__all__ = ["MAX_ID", "parse_id", "shorten"]

from livebell.models import MAX_ID

# More digits than MAX_ID has: no need to convert such a string to know it is too big.
_MAX_DIGITS = len(str(MAX_ID))


def parse_id(text: str) -> int | None:
    """The notification id written in ``text`` (ASCII digits, 1 to :data:`MAX_ID`), or None."""
    if not (text.isascii() and text.isdigit()) or len(text) > _MAX_DIGITS:
        return None
    value = int(text)
    return value if 1 <= value <= MAX_ID else None


def shorten(value: object, limit: int = 40) -> str:
    """``repr(value)`` cut to ``limit`` characters, to quote client input in error messages."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
