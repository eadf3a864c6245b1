"""The messages livebell sends between processes, over the channel layer.

Each is a small frozen dataclass; :func:`encode` turns messages into
``(group, layer_message)`` pairs for ``group_send`` and :func:`decode` turns a
received layer message back into messages. Nothing else in livebell builds or
reads a layer message.

- :class:`Push`: a stored notification, for one user's sockets. Several pushes
  to different users travel as one ``livebell.batch`` message to the fan-out
  group, which every server process is in (see :mod:`livebell.layer.fanout`).
- :class:`InboxChange`: read state changed or notifications were deleted.
- :class:`SessionEnded`: a session logged out; its sockets must close.
- :class:`RecheckSessions`: the user's password, status or existence changed;
  every socket of the user must check that its session is still valid.

Every layer message carries the key of the site that sent it
(:func:`livebell.layer.groups.site_key`), once per layer message however many pushes
it holds; each decoded message has it as ``site``, so that a socket can ignore
the messages of another site that uses the same group names
(:class:`livebell.live.session.Session`). A message made to be sent has an empty
``site``: :func:`encode` stamps this site's key.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from livebell.layer.groups import fanout_group, site_key

__all__ = [
    "InboxChange",
    "MalformedMessage",
    "Message",
    "Push",
    "RecheckSessions",
    "SessionEnded",
    "decode",
    "encode",
]


class MalformedMessage(ValueError):
    """A layer message that livebell did not write (or wrote in another version)."""


class Push(NamedTuple):
    """A stored notification, for the sockets of the user whose group is ``group``.

    A named tuple, not a frozen dataclass like the other messages: one is made per
    recipient, by the sender and again by every server process, and a tuple is
    made in about half the time.
    """

    group: str
    #: The notification's id.
    id: int
    #: The user's newest id before this one (0 if none): a socket that has not sent
    #: it has missed a push and catches up from the database.
    previous_id: int
    #: The user's unread count and inbox revision just after this notification.
    unread_count: int
    revision: int
    #: The ``notification`` frame, encoded once for every socket that gets it.
    frame: str
    #: The language the frame's text was rendered in, when the text depends on the
    #: language (a typed notification); a socket reading another language renders
    #: it again (livebell.payloads.localize_frame). None: the same in every language.
    language: str | None = None
    #: The key of the site that sent it (set by :func:`decode`).
    site: str = ""


@dataclass(frozen=True, slots=True)
class InboxChange:
    """A ``read``, ``unread`` or ``deleted`` event for the user's sockets."""

    group: str
    #: The user's unread count and inbox revision just after the change.
    unread_count: int
    revision: int
    #: The encoded event frame.
    frame: str
    #: The key of the site that sent it (set by :func:`decode`).
    site: str = ""


@dataclass(frozen=True, slots=True)
class SessionEnded:
    """The session whose key hashes to ``session_hash`` was logged out."""

    group: str
    session_hash: str
    #: The key of the site that sent it (set by :func:`decode`).
    site: str = ""


@dataclass(frozen=True, slots=True)
class RecheckSessions:
    """Every socket of the user must check its session (password, status changed)."""

    group: str
    #: The key of the site that sent it (set by :func:`decode`).
    site: str = ""


Message = Push | InboxChange | SessionEnded | RecheckSessions

_PUSH = "livebell.push"
_BATCH = "livebell.batch"
_INBOX = "livebell.inbox"
_SESSION_ENDED = "livebell.session_ended"
_RECHECK = "livebell.recheck"
_KINDS = frozenset({_PUSH, _BATCH, _INBOX, _SESSION_ENDED, _RECHECK})


def encode(messages: Sequence[Message], *, batch_size: int) -> list[tuple[str, dict[str, Any]]]:
    """The ``group_send`` calls that carry ``messages``, in order, each stamped
    with this site's key.

    A lone push goes to its user's group. Several pushes go to the fan-out group
    as one message per ``batch_size`` of them, in the order given: a broadcast to
    1,000 users is one publish, not 1,000.
    """
    site = site_key()
    pushes = [m for m in messages if isinstance(m, Push)]
    sends: list[tuple[str, dict[str, Any]]] = []
    if len(pushes) > 1:
        size = max(1, batch_size)
        for start in range(0, len(pushes), size):
            items = [
                [p.group, p.id, p.previous_id, p.unread_count, p.revision, p.frame, p.language]
                for p in pushes[start : start + size]
            ]
            sends.append((fanout_group(), {"type": _BATCH, "site": site, "items": items}))
    for m in messages:
        if isinstance(m, Push):
            if len(pushes) == 1:
                sends.append((m.group, _push_body(m, site)))
        elif isinstance(m, InboxChange):
            sends.append(
                (
                    m.group,
                    {
                        "type": _INBOX,
                        "site": site,
                        "group": m.group,
                        "unread_count": m.unread_count,
                        "revision": m.revision,
                        "frame": m.frame,
                    },
                )
            )
        elif isinstance(m, SessionEnded):
            sends.append(
                (
                    m.group,
                    {
                        "type": _SESSION_ENDED,
                        "site": site,
                        "group": m.group,
                        "session": m.session_hash,
                    },
                )
            )
        else:
            sends.append((m.group, {"type": _RECHECK, "site": site, "group": m.group}))
    return sends


def _push_body(p: Push, site: str) -> dict[str, Any]:
    return {
        "type": _PUSH,
        "site": site,
        "group": p.group,
        "id": p.id,
        "previous_id": p.previous_id,
        "unread_count": p.unread_count,
        "revision": p.revision,
        "frame": p.frame,
        "language": p.language,
    }


def decode(message: dict[str, Any]) -> Iterable[Message]:
    """The messages in one received layer message.

    Raises:
        MalformedMessage: not a message :func:`encode` makes.
    """
    kind = message.get("type")
    if kind not in _KINDS:
        raise MalformedMessage(f"unknown message type {kind!r}")
    try:
        site = _text(message["site"])
        if kind == _BATCH:
            return [_push(site, *item) for item in message["items"]]
        if kind == _PUSH:
            return [
                _push(
                    site,
                    message["group"],
                    message["id"],
                    message["previous_id"],
                    message["unread_count"],
                    message["revision"],
                    message["frame"],
                    message["language"],
                )
            ]
        if kind == _INBOX:
            change = InboxChange(
                _text(message["group"]),
                _number(message["unread_count"]),
                _number(message["revision"]),
                _text(message["frame"]),
                site,
            )
            return [change]
        if kind == _SESSION_ENDED:
            return [SessionEnded(_text(message["group"]), _text(message["session"]), site)]
        return [RecheckSessions(_text(message["group"]), site)]  # _RECHECK
    except (KeyError, TypeError, ValueError) as exc:
        raise MalformedMessage(f"malformed {kind!r} message: {exc!r}") from None


def _push(
    site: str,
    group: object,
    notification_id: object,
    previous_id: object,
    unread_count: object,
    revision: object,
    frame: object,
    language: object,
) -> Push:
    return Push(
        _text(group),
        _number(notification_id),
        _number(previous_id),
        _number(unread_count),
        _number(revision),
        _text(frame),
        None if language is None else _text(language),
        site,
    )


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return value


def _number(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"expected an integer, got {type(value).__name__}")
    return value
