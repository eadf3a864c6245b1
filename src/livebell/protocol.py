"""The wire protocol, free of I/O: server frames out, client frames in.

Every frame is a JSON object with a ``"type"``. ``docs/protocol.md`` is the
reference; this module is the one place that encodes and parses frames, so the
consumer stays a thin I/O shell around it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import orjson

from livebell.models import MAX_ID
from livebell.payloads import NotificationPayload
from livebell.resume import Catchup

__all__ = [
    "ProtocolError",
    "TokenBucket",
    "encode",
    "error_frame",
    "notification_frame",
    "parse_client_frame",
    "parse_last_id",
    "synced_frame",
]

# Client frame types the server understands.
CLIENT_TYPES = frozenset({"ping", "resume", "mark_read", "mark_unread", "mark_all_read"})


class ProtocolError(Exception):
    """A client frame the server cannot act on; becomes an ``error`` frame."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def encode(frame: dict[str, Any]) -> str:
    """Serialise a server frame to the text sent on the socket."""
    return orjson.dumps(frame).decode()


def notification_frame(payload: NotificationPayload, unread_count: int) -> str:
    """The frame that delivers one notification, with the recipient's unread count."""
    return encode({"type": "notification", "notification": payload, "unread_count": unread_count})


def error_frame(error: ProtocolError) -> str:
    """The frame that answers a client frame the server could not act on."""
    return encode({"type": "error", "code": error.code, "message": error.message})


def parse_client_frame(text: str | None, *, max_bytes: int) -> dict[str, Any]:
    """Decode and validate one client frame.

    Raises:
        ProtocolError: binary frame, frame over ``max_bytes``, bad JSON, not an
            object, missing or unknown ``type``.
    """
    if text is None:
        raise ProtocolError("binary_not_supported", "Send JSON text frames, not binary frames.")
    # A character is at most 4 bytes of UTF-8: skip the encode for frames that are surely small.
    if len(text) * 4 > max_bytes and len(text.encode()) > max_bytes:
        raise ProtocolError("frame_too_large", f"Frames are limited to {max_bytes} bytes.")
    try:
        frame = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise ProtocolError("bad_json", "The frame is not valid JSON.") from None
    if not isinstance(frame, dict):
        raise ProtocolError("bad_frame", "A frame must be a JSON object.")
    kind = frame.get("type")
    if not isinstance(kind, str):
        raise ProtocolError("bad_frame", 'A frame needs a string "type".')
    if kind not in CLIENT_TYPES:
        raise ProtocolError("unknown_type", f"Unknown frame type {kind[:40]!r}.")
    if kind == "resume":
        frame["last_id"] = parse_last_id(frame.get("last_id"))
    elif kind == "mark_all_read" and frame.get("before_id") is not None:
        frame["before_id"] = _positive_int(frame["before_id"], "before_id")
    return frame


def parse_last_id(value: object) -> int:
    """Validate a resume point: a non-negative integer (also given as a digit string).

    Raises:
        ProtocolError: anything else.
    """
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) < 20:
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_ID:
        raise ProtocolError("bad_last_id", "last_id must be a non-negative 64-bit integer.")
    return value


def _positive_int(value: object, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_ID:
        raise ProtocolError("bad_frame", f"{name} must be a positive 64-bit integer.")
    return value


def synced_frame(catchup: Catchup) -> str:
    """The frame that ends a catch-up: what the client now has, and the unread count."""
    frame: dict[str, Any] = {
        "type": "synced",
        "last_id": catchup.last_id,
        "unread_count": catchup.unread_count,
    }
    if catchup.truncated:
        frame["truncated"] = True
    return encode(frame)


class TokenBucket:
    """Allow ``rate`` events per second on average, with bursts of up to ``burst``."""

    def __init__(
        self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate = rate
        self.burst = float(burst)
        self._clock = clock
        self._tokens = float(burst)
        self._last = clock()

    def allow(self) -> bool:
        """Take one token if there is one; say whether the event may proceed."""
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False
