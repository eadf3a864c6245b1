"""One socket's decisions, free of I/O: what to send, when to catch up, when to close.

:class:`Connection` is the socket's state machine. The consumer
(:mod:`livebell.consumers`) feeds it what happens — the socket opened or was
refused, a client frame, a message from the channel layer, a catch-up's result,
a session check — and carries out the :data:`Decision` it returns. It has no
clock of its own (the rate limit's is injected) and performs no I/O, so every
rule below has a fast unit test.

States (:class:`ConnectionState`)::

    CONNECTING ──open()──▶ SYNCING ──caught_up()──▶ LIVE ──(gap, resume)──▶ SYNCING
        │                                            │
        └──refuse()──▶ CLOSED ◀──close()────────────┘

The rules:

- **Each notification once, in id order.** ``last_id`` is the newest id the
  client has. A push at or below it is a duplicate (a catch-up sent it) and is
  dropped. A push whose ``previous_id`` is above it reveals a push that never
  arrived: the connection catches up from the database instead.
- **Counts never go back.** Every message carries the inbox revision of its
  unread count; a message older than one already seen gets the newer count.
- **No flood.** Past a burst's threshold (:mod:`livebell.storm`), notifications are
  held and summed up in one ``burst`` frame.
- **Sessions end.** A logout of this socket's session, or a session that is no
  longer the user's, closes it with 4401; a session key that names no session
  any more (re-keyed) closes it with 4001, so the client reconnects with the
  browser's current cookie.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from livebell import protocol
from livebell.messages import InboxChange, Push, SessionEnded
from livebell.ratelimit import TokenBucket
from livebell.storm import BurstGate

if TYPE_CHECKING:
    from livebell.catchup import CatchUp

__all__ = [
    "CLOSE_SESSION_CHANGED",
    "CLOSE_UNAUTHENTICATED",
    "BurstDue",
    "CatchUpFrom",
    "ChangeInbox",
    "CheckSession",
    "Close",
    "Connection",
    "ConnectionState",
    "Decision",
    "ScheduleBurst",
    "Send",
    "WrongState",
]

#: Application close code (4000-4999) telling the client to log in rather than retry.
CLOSE_UNAUTHENTICATED = 4401
#: The socket's session key names no session any more (re-keyed or flushed): the
#: client should reconnect, with the browser's current cookie.
CLOSE_SESSION_CHANGED = 4001


class ConnectionState(enum.Enum):
    """Where a socket is in its life."""

    #: The handshake arrived; the user is not known yet.
    CONNECTING = "connecting"
    #: Accepted; a catch-up is being loaded, pushes wait.
    SYNCING = "syncing"
    #: Caught up: pushes go to the client as they come.
    LIVE = "live"
    #: Closed, by either side; nothing more is sent.
    CLOSED = "closed"


class WrongState(RuntimeError):
    """An event the connection cannot take in its current state (a consumer bug)."""

    def __init__(self, event: str, expected: ConnectionState, actual: ConnectionState) -> None:
        super().__init__(f"{event}: expected state {expected.name}, got {actual.name}")
        self.expected = expected
        self.actual = actual


# What the consumer must do next.


@dataclass(frozen=True, slots=True)
class Send:
    """Send ``frame`` to the client."""

    frame: str


@dataclass(frozen=True, slots=True)
class CatchUpFrom:
    """Load a catch-up from the database (``after`` None: only the count) and pass it
    to :meth:`Connection.caught_up`."""

    after: int | None


@dataclass(frozen=True, slots=True)
class ChangeInbox:
    """Apply a client's read-state change (:mod:`livebell.inbox`); its event follows."""

    change: protocol.MarkRead | protocol.MarkUnread | protocol.MarkAllRead


@dataclass(frozen=True, slots=True)
class CheckSession:
    """Check the session (:func:`livebell.auth.acheck_session`) and pass the result to
    :meth:`Connection.session_checked`."""


@dataclass(frozen=True, slots=True)
class Close:
    """Close the socket with ``code``."""

    code: int


@dataclass(frozen=True, slots=True)
class ScheduleBurst:
    """Call :meth:`Connection.burst_due` in ``delay`` seconds (a burst is being held)."""

    delay: float


@dataclass(frozen=True, slots=True)
class BurstDue:
    """The consumer's reminder that a :class:`ScheduleBurst` delay has passed."""


Decision = Send | CatchUpFrom | ChangeInbox | CheckSession | Close | ScheduleBurst | None


class Connection:
    """The state of one notification socket.

    Args:
        max_frame_bytes: the largest client frame accepted.
        rate_limit: the bucket client frames are taken from.
        session_hash: :func:`livebell.auth.session_hash` of the socket's session.
        burst: the storm control of this socket's notifications (None: none).
    """

    def __init__(
        self,
        *,
        max_frame_bytes: int,
        rate_limit: TokenBucket,
        session_hash: str,
        burst: BurstGate | None = None,
    ) -> None:
        self.state = ConnectionState.CONNECTING
        self.user_id: Any = None
        self.max_frame_bytes = max_frame_bytes
        self.rate_limit = rate_limit
        self.session_hash = session_hash
        self.burst = burst
        #: The newest notification id the client has.
        self.last_id = 0
        #: The newest unread count sent, and the inbox revision it is from.
        self.unread_count = 0
        self.revision = -1

    def _expect(self, event: str, expected: ConnectionState) -> None:
        if self.state is not expected:
            raise WrongState(event, expected, self.state)

    # The socket's life.

    def open(self, user_id: Any, last_id: str | None) -> list[Decision]:
        """The socket's user is known and the socket is accepted: catch up.

        ``last_id`` is the query string's value, if any; a bad one gets an error
        frame and a plain catch-up.
        """
        self._expect("open", ConnectionState.CONNECTING)
        self.user_id = user_id
        self.state = ConnectionState.SYNCING
        if last_id is None:
            return [CatchUpFrom(None)]
        try:
            return [CatchUpFrom(protocol.parse_last_id(last_id))]
        except protocol.ProtocolError as error:
            return [Send(protocol.error_frame(error)), CatchUpFrom(None)]

    def refuse(self) -> Close:
        """Nobody is logged in: the socket is accepted only to be closed with 4401."""
        self._expect("refuse", ConnectionState.CONNECTING)
        self.state = ConnectionState.CLOSED
        return Close(CLOSE_UNAUTHENTICATED)

    def close(self) -> None:
        """The socket closed (either side); later events are ignored."""
        self.state = ConnectionState.CLOSED

    @property
    def closed(self) -> bool:
        return self.state is ConnectionState.CLOSED

    def caught_up(self, result: CatchUp) -> list[Send]:
        """The catch-up asked for has loaded: the frames to send, and the socket is live."""
        if self.closed:
            return []
        self._expect("caught_up", ConnectionState.SYNCING)
        self.state = ConnectionState.LIVE
        count = self._count(result.unread_count, result.revision)
        frames = [Send(protocol.notification_frame(n, count)) for n in result.notifications]
        self.last_id = result.last_id
        frames.append(
            Send(protocol.synced_frame(result.last_id, count, truncated=result.truncated))
        )
        return frames

    # Client frames.

    def receive(self, text: str | None) -> Decision:
        """A frame from the client (``None`` for a binary frame)."""
        if self.closed:
            return None
        self._expect("receive", ConnectionState.LIVE)
        try:
            if not self.rate_limit.allow():
                raise protocol.ProtocolError(
                    "rate_limited", "Too many frames; slow down and retry later."
                )
            frame = protocol.parse_client_frame(text, max_bytes=self.max_frame_bytes)
        except protocol.ProtocolError as error:
            return Send(protocol.error_frame(error))
        if isinstance(frame, protocol.Ping):
            return Send(protocol.pong_frame())
        if isinstance(frame, protocol.Resume):
            self.state = ConnectionState.SYNCING
            return CatchUpFrom(frame.last_id)
        return ChangeInbox(frame)

    # Messages from the channel layer.

    def push(self, message: Push) -> Decision:
        """A stored notification for this user."""
        if self.closed:
            return None
        self._expect("push", ConnectionState.LIVE)
        if message.id <= self.last_id:
            return None  # already sent by a catch-up
        if message.previous_id > self.last_id:
            # A push before this one never arrived: the database has it.
            self.state = ConnectionState.SYNCING
            return CatchUpFrom(self.last_id)
        self.last_id = message.id
        if self.burst is not None and not self.burst.admit():
            # Held: the burst frame will say it arrived, with the newest id and count.
            self._count(message.unread_count, message.revision)
            due = self.burst.due_in()
            return ScheduleBurst(due) if self.burst.held == 1 and due is not None else None
        return self._with_fresh_count(message.frame, message.unread_count, message.revision)

    def burst_due(self) -> Decision:
        """A :class:`ScheduleBurst` delay passed: sum the burst up, or wait some more."""
        if self.closed or self.burst is None or not self.burst.held:
            return None
        due = self.burst.due_in()
        if due:
            return ScheduleBurst(due)
        held = self.burst.release()
        return Send(protocol.burst_frame(held, self.last_id, self.unread_count))

    def inbox_change(self, message: InboxChange) -> Decision:
        """A ``read``/``unread``/``deleted`` event for this user."""
        if self.closed:
            return None
        self._expect("inbox_change", ConnectionState.LIVE)
        return self._with_fresh_count(message.frame, message.unread_count, message.revision)

    def session_ended(self, message: SessionEnded) -> Decision:
        """A session of this user was logged out: close if it is this socket's."""
        if self.closed or message.session_hash != self.session_hash:
            return None
        self.state = ConnectionState.CLOSED
        return Close(CLOSE_UNAUTHENTICATED)

    def recheck(self) -> Decision:
        """The user's sessions may have ended (or a periodic check is due)."""
        return None if self.closed else CheckSession()

    def session_checked(self, valid: bool, exists: bool) -> Decision:
        """The result of a :class:`CheckSession`: whether the session is still the
        user's, and whether its key still names a session at all."""
        if self.closed or valid:
            return None
        self.state = ConnectionState.CLOSED
        return Close(CLOSE_UNAUTHENTICATED if exists else CLOSE_SESSION_CHANGED)

    # Counts.

    def _count(self, unread_count: int, revision: int) -> int:
        """The count to show with a message of ``revision``: the newest one seen."""
        if revision >= self.revision:
            self.unread_count, self.revision = unread_count, revision
        return self.unread_count

    def _with_fresh_count(self, frame: str, unread_count: int, revision: int) -> Send:
        count = self._count(unread_count, revision)
        return Send(frame if count == unread_count else protocol.with_unread_count(frame, count))
