"""The wire protocol, free of I/O: server frames out, client frames in.

Every frame is a JSON object with a ``"type"``. ``docs/protocol.md`` is the
reference; this module is the one place that encodes server frames and parses
client frames (into the typed :data:`ClientFrame`), so the socket's logic
(:mod:`livebell.live.session`) and its I/O (:mod:`livebell.live.websocket`) never touch
JSON. It imports no models and needs no configured Django.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import parse_qs

import orjson

from livebell.ids import InvalidId, parse_id, parse_ids

if TYPE_CHECKING:
    from livebell.payloads import NotificationPayload

__all__ = [
    "CLIENT_TYPES",
    "MAX_DEPTH",
    "SUBPROTOCOL",
    "TICKET_SUBPROTOCOL_PREFIX",
    "ClientFrame",
    "InboxEvent",
    "MarkAllRead",
    "MarkRead",
    "MarkUnread",
    "Ping",
    "ProtocolError",
    "Resume",
    "accepted_subprotocol",
    "burst_frame",
    "close_frame",
    "encode",
    "error_frame",
    "frame_last_id",
    "handshake_ticket",
    "inbox_frame",
    "notification_frame",
    "notification_frames",
    "parse_client_frame",
    "parse_last_id",
    "pong_frame",
    "synced_frame",
    "too_deep",
    "with_unread_count",
]


#: The WebSocket subprotocol of the socket; the server accepts with it when offered.
SUBPROTOCOL = "livebell"
#: A client may offer its socket ticket as a subprotocol, ``livebell.ticket.<ticket>``
#: next to ``livebell``: a header, where proxies do not log it as they log URLs.
TICKET_SUBPROTOCOL_PREFIX = "livebell.ticket."


def handshake_ticket(scope: dict[str, Any]) -> str | None:
    """The socket ticket a handshake carries: in an offered subprotocol, else in the
    query string (``?ticket=``); None if neither."""
    for offered in scope.get("subprotocols") or ():
        if offered.startswith(TICKET_SUBPROTOCOL_PREFIX):
            return str(offered[len(TICKET_SUBPROTOCOL_PREFIX) :])
    tickets = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("ticket")
    return tickets[-1] if tickets else None


def handshake_cookies(scope: dict[str, Any]) -> Mapping[str, str]:
    """The cookies a handshake carries: the scope's own when Channels'
    ``CookieMiddleware`` parsed them, else its ``Cookie`` headers, parsed as Django
    parses a request's and kept in the scope, as that middleware does, so that the
    session and the language read them once."""
    cookies: Mapping[str, str] | None = scope.get("cookies")
    if cookies is None:
        # Imported here: django.http loads the ORM, which this module must not need.
        from django.http.cookie import parse_cookie

        header = "; ".join(
            value.decode("latin-1") for name, value in scope.get("headers", ()) if name == b"cookie"
        )
        cookies = scope["cookies"] = parse_cookie(header)
    return cookies


def accepted_subprotocol(scope: dict[str, Any]) -> str | None:
    """The subprotocol to accept the handshake with: ``livebell`` if the client offered
    it, else none. Never the ticket's, which would echo the credential back."""
    return SUBPROTOCOL if SUBPROTOCOL in (scope.get("subprotocols") or ()) else None


class ProtocolError(Exception):
    """A client frame the server cannot act on; becomes an ``error`` frame."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# Client frames, parsed.


@dataclass(frozen=True, slots=True)
class Ping:
    """``{"type": "ping"}``: answered by ``pong``."""


@dataclass(frozen=True, slots=True)
class Resume:
    """``{"type": "resume", "last_id": N}``: catch up from ``last_id``."""

    last_id: int


@dataclass(frozen=True, slots=True)
class MarkRead:
    """``{"type": "mark_read", "ids": [...]}``."""

    ids: list[int]


@dataclass(frozen=True, slots=True)
class MarkUnread:
    """``{"type": "mark_unread", "ids": [...]}``."""

    ids: list[int]


@dataclass(frozen=True, slots=True)
class MarkAllRead:
    """``{"type": "mark_all_read", "before_id": N | null}``."""

    before_id: int | None


ClientFrame = Ping | Resume | MarkRead | MarkUnread | MarkAllRead

#: Client frame types the server understands.
CLIENT_TYPES = frozenset({"ping", "resume", "mark_read", "mark_unread", "mark_all_read"})

#: Deepest nesting of arrays and objects a client may send. No frame needs more than
#: 2; past a few hundred, quoting a value back in an error message (``repr``) would
#: exhaust Python's recursion limit.
MAX_DEPTH = 16


def too_deep(value: object, limit: int = MAX_DEPTH) -> bool:
    """Whether decoded JSON nests arrays and objects deeper than ``limit`` (no recursion)."""
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def parse_client_frame(text: str | None, *, max_bytes: int) -> ClientFrame:
    """Decode and validate one client frame.

    Raises:
        ProtocolError: binary frame, frame over ``max_bytes``, bad JSON, not an
            object, missing or unknown ``type``, or bad ``last_id``/``ids``/``before_id``.
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
    if too_deep(frame):
        raise ProtocolError("bad_frame", f"A frame may nest at most {MAX_DEPTH} levels.")
    kind = frame.get("type")
    if not isinstance(kind, str):
        raise ProtocolError("bad_frame", 'A frame needs a string "type".')
    if kind == "ping":
        return Ping()
    if kind == "resume":
        return Resume(parse_last_id(frame.get("last_id")))
    try:
        if kind == "mark_read":
            return MarkRead(parse_ids(frame.get("ids")))
        if kind == "mark_unread":
            return MarkUnread(parse_ids(frame.get("ids")))
        if kind == "mark_all_read":
            before_id = frame.get("before_id")
            return MarkAllRead(None if before_id is None else parse_id(before_id, name="before_id"))
    except InvalidId as exc:
        raise ProtocolError("bad_frame", str(exc)) from None
    raise ProtocolError("unknown_type", f"Unknown frame type {kind[:40]!r}.")


def parse_last_id(value: object) -> int:
    """Validate a catch-up point: a non-negative integer (in a query string, its digits).

    Raises:
        ProtocolError: anything else (code ``bad_last_id``).
    """
    try:
        return parse_id(value, name="last_id", minimum=0, text=True)
    except InvalidId as exc:
        raise ProtocolError("bad_last_id", str(exc)) from None


# Server frames.


def encode(frame: dict[str, Any]) -> str:
    """Serialise a server frame to the text sent on the socket."""
    return orjson.dumps(frame).decode()


def notification_frame(payload: NotificationPayload, unread_count: int) -> str:
    """The frame that delivers one notification, with the recipient's unread count."""
    return encode({"type": "notification", "notification": payload, "unread_count": unread_count})


def notification_frames(payload: NotificationPayload) -> Callable[[int, int], str]:
    """``frame(id, unread_count)``: :func:`notification_frame` of ``payload`` with that
    ``id`` (its first key), the rest of the payload encoded once.

    The rows of a ``notify()`` to many users differ only in id and count, so the
    rest is encoded once rather than once per recipient.
    """
    rest = encode({key: value for key, value in payload.items() if key != "id"})
    head = '{"type":"notification","notification":{"id":'
    tail = ("," + rest[1:] if len(rest) > 2 else "}") + ',"unread_count":'

    def frame(notification_id: int, unread_count: int) -> str:
        # type() is: a bool is an int that JSON writes as true/false.
        if type(notification_id) is not int or type(unread_count) is not int:
            raise TypeError("a frame's id and unread count are ints")
        return f"{head}{notification_id}{tail}{unread_count}}}"

    return frame


def synced_frame(last_id: int, unread_count: int, *, truncated: bool = False) -> str:
    """The frame that ends a catch-up: the newest id the client now has, and the count."""
    frame: dict[str, Any] = {"type": "synced", "last_id": last_id, "unread_count": unread_count}
    if truncated:
        frame["truncated"] = True
    return encode(frame)


def burst_frame(count: int, last_id: int, unread_count: int) -> str:
    """The frame that sums up a burst: ``count`` more notifications, up to ``last_id``."""
    return encode(
        {"type": "burst", "count": count, "last_id": last_id, "unread_count": unread_count}
    )


@dataclass(frozen=True)
class InboxEvent:
    """A change of the read state: ids that became read, unread or were deleted.

    ``ids`` is ``"all"`` for mark-all-read, with ``before_id`` when it was bounded.
    """

    type: Literal["read", "unread", "deleted"]
    ids: list[int] | Literal["all"]
    before_id: int | None = None


def inbox_frame(event: InboxEvent, unread_count: int) -> str:
    """The ``read``, ``unread`` or ``deleted`` frame of ``event``, with the count after it."""
    frame: dict[str, Any] = {"type": event.type, "ids": event.ids}
    if event.ids == "all":
        frame["before_id"] = event.before_id
    frame["unread_count"] = unread_count
    return encode(frame)


def pong_frame() -> str:
    """The answer to a ``ping``."""
    return '{"type":"pong"}'


def error_frame(error: ProtocolError) -> str:
    """The frame that answers a client frame the server could not act on."""
    return encode({"type": "error", "code": error.code, "message": error.message})


def close_frame(code: int, reason: str) -> str:
    """The last frame of an event stream, which has no close codes: the code a socket
    would have closed with, and its reason (docs/protocol.md, "Server-Sent Events")."""
    return encode({"type": "close", "code": code, "reason": reason})


_NOTIFICATION_HEAD = '{"type":"notification"'
_ID_CARRIERS = ('{"type":"synced"', '{"type":"burst"')


def frame_last_id(frame: str) -> int | None:
    """The newest notification id a client has once it read ``frame``: a
    notification's id, or the ``last_id`` of ``synced`` and ``burst``; None for
    frames that say nothing of ids."""
    if frame.startswith(_NOTIFICATION_HEAD):
        notification_id = orjson.loads(frame)["notification"]["id"]
        return notification_id if type(notification_id) is int else None
    if frame.startswith(_ID_CARRIERS):
        last_id = orjson.loads(frame).get("last_id")
        return last_id if type(last_id) is int else None
    return None


def with_unread_count(frame: str, unread_count: int) -> str:
    """``frame`` (one that carries ``unread_count``) with a fresher count in its place."""
    decoded = orjson.loads(frame)
    decoded["unread_count"] = unread_count
    return encode(decoded)
