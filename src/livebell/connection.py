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

- **Only this socket's messages.** A layer message for another user's group, or
  from another site (its site key differs: two sites that share a Redis and a
  group prefix), is ignored before it is looked at: it changes neither
  ``last_id`` nor the count nor the storm control, so it cannot make the socket
  drop a genuine push whose id is lower.
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
- **Every resource is bounded.** Client frames are taken from the socket's bucket
  and from its user's (shared by the user's sockets in the process); a frame over
  either gets a ``rate_limited`` error, and a socket that keeps sending over the
  limit is closed with 4429. A user has at most ``max_sockets`` sockets in the
  process (more are closed with 4409). Catch-ups draw the notifications they send
  from the user's budget, and are truncated when it runs low. A socket whose
  client reads too slowly — too many layer messages waiting, or a send that
  does not complete — is closed with 1013; the client reconnects and catches up.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from livebell import protocol
from livebell.messages import InboxChange, Push, RecheckSessions, SessionEnded
from livebell.ratelimit import TokenBucket, UserLimits
from livebell.storm import BurstGate

if TYPE_CHECKING:
    from livebell.catchup import CatchUp

__all__ = [
    "CLOSE_FLOODING",
    "CLOSE_SERVICE_RESTART",
    "CLOSE_SESSION_CHANGED",
    "CLOSE_TOO_MANY_SOCKETS",
    "CLOSE_TRY_AGAIN_LATER",
    "CLOSE_UNAUTHENTICATED",
    "BurstDue",
    "CatchUpFrom",
    "ChangeInbox",
    "CheckSession",
    "Close",
    "Connection",
    "ConnectionState",
    "Decision",
    "Ignore",
    "ScheduleBurst",
    "Send",
    "WrongState",
]

#: Application close code (4000-4999) telling the client to log in rather than retry.
CLOSE_UNAUTHENTICATED = 4401
#: The socket's session key names no session any more (re-keyed or flushed): the
#: client should reconnect, with the browser's current cookie.
CLOSE_SESSION_CHANGED = 4001
#: Closed for sustained abuse: the client kept sending past the rate limit. It should
#: reconnect only after its longest backoff.
CLOSE_FLOODING = 4429
#: The user already has ``MAX_SOCKETS_PER_USER`` sockets in this process.
CLOSE_TOO_MANY_SOCKETS = 4409
#: Try again later (RFC 6455): the client read too slowly, so the socket fell behind.
CLOSE_TRY_AGAIN_LATER = 1013
#: Service restart (RFC 6455): what uvicorn sends to every socket on SIGTERM; the
#: client reconnects at once, to another process, with its ``last_id``.
CLOSE_SERVICE_RESTART = 1012


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
    """Close the socket with ``code``; ``reason`` says why, for the logs and metrics."""

    code: int
    reason: str = field(default="", compare=False)


@dataclass(frozen=True, slots=True)
class ScheduleBurst:
    """Call :meth:`Connection.burst_due` in ``delay`` seconds (a burst is being held)."""

    delay: float


@dataclass(frozen=True, slots=True)
class BurstDue:
    """The consumer's reminder that a :class:`ScheduleBurst` delay has passed."""


@dataclass(frozen=True, slots=True)
class Ignore:
    """A layer message was not for this socket; ``reason`` says why, for the logs and
    metrics: ``"other_site"`` or ``"other_user"``."""

    reason: str


Decision = Send | CatchUpFrom | ChangeInbox | CheckSession | Close | ScheduleBurst | Ignore | None


class Connection:
    """The state of one notification socket.

    Args:
        max_frame_bytes: the largest client frame accepted.
        rate_limit: the bucket this socket's client frames are taken from.
        session_hash: :func:`livebell.auth.session_hash` of the socket's session.
        site: this site's key (:func:`livebell.groups.site_key`); layer messages
            of another site are ignored.
        flood: one token per frame refused by a rate limit; when it is empty the
            socket is closed with 4429. None: never closed for that.
        max_sockets: most sockets of one user in the process; None: no cap.
        max_pending: most layer messages waiting for this socket; None: no cap.
        resume_max: most notifications sent by one catch-up.
        burst: the storm control of this socket's notifications (None: none).
    """

    def __init__(
        self,
        *,
        max_frame_bytes: int,
        rate_limit: TokenBucket,
        session_hash: str,
        site: str,
        flood: TokenBucket | None = None,
        max_sockets: int | None = None,
        max_pending: int | None = None,
        resume_max: int = 500,
        burst: BurstGate | None = None,
    ) -> None:
        self.state = ConnectionState.CONNECTING
        self.user_id: Any = None
        #: The user's group (from :meth:`open`): layer messages for another are ignored.
        self.group: str | None = None
        self.site = site
        self.max_frame_bytes = max_frame_bytes
        self.rate_limit = rate_limit
        self.flood = flood
        self.max_sockets = max_sockets
        self.max_pending = max_pending
        self.resume_max = resume_max
        #: The limits shared by the user's sockets in this process (from :meth:`open`).
        self.user_limits: UserLimits | None = None
        #: The error code the last client frame got (``rate_limited``, ``bad_json``…),
        #: or None if it was acted on.
        self.last_error: str | None = None
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

    def open(
        self,
        user_id: Any,
        last_id: str | None,
        *,
        group: str,
        user_limits: UserLimits | None = None,
        sockets: int = 1,
    ) -> list[Decision]:
        """The socket's user is known and the socket is accepted: catch up.

        ``last_id`` is the query string's value, if any; a bad one gets an error
        frame and a plain catch-up. ``group`` is the user's group
        (:func:`livebell.groups.user_group`). ``sockets`` is how many sockets the
        user has in this process, this one included: over ``max_sockets`` the
        socket is closed with 4409 instead. ``user_limits`` are the limits the
        user's sockets share.
        """
        self._expect("open", ConnectionState.CONNECTING)
        self.user_id = user_id
        self.group = group
        if self.max_sockets is not None and sockets > self.max_sockets:
            self.state = ConnectionState.CLOSED
            return [Close(CLOSE_TOO_MANY_SOCKETS, "too_many_sockets")]
        self.user_limits = user_limits
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
        return Close(CLOSE_UNAUTHENTICATED, "unauthenticated")

    def close(self) -> None:
        """The socket closed (either side); later events are ignored."""
        self.state = ConnectionState.CLOSED

    @property
    def closed(self) -> bool:
        return self.state is ConnectionState.CLOSED

    def catch_up_limit(self) -> int:
        """How many notifications the catch-up about to run may send: ``resume_max``,
        or less when the user's catch-up budget is lower."""
        if self.user_limits is None:
            return self.resume_max
        return min(self.resume_max, self.user_limits.catch_up.available())

    def caught_up(self, result: CatchUp) -> list[Send]:
        """The catch-up asked for has loaded: the frames to send, and the socket is live."""
        if self.closed:
            return []
        self._expect("caught_up", ConnectionState.SYNCING)
        self.state = ConnectionState.LIVE
        if self.user_limits is not None:
            self.user_limits.catch_up.spend(len(result.notifications))
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
        self.last_error = None
        try:
            if not self._allowed():
                if self.flood is not None and not self.flood.allow():
                    self.last_error = "rate_limited"
                    self.state = ConnectionState.CLOSED
                    return Close(CLOSE_FLOODING, "flooding")
                raise protocol.ProtocolError(
                    "rate_limited", "Too many frames; slow down and retry later."
                )
            frame = protocol.parse_client_frame(text, max_bytes=self.max_frame_bytes)
        except protocol.ProtocolError as error:
            self.last_error = error.code
            return Send(protocol.error_frame(error))
        if isinstance(frame, protocol.Ping):
            return Send(protocol.pong_frame())
        if isinstance(frame, protocol.Resume):
            self.state = ConnectionState.SYNCING
            return CatchUpFrom(frame.last_id)
        return ChangeInbox(frame)

    def _allowed(self) -> bool:
        """Take a frame from the socket's bucket, then from the user's."""
        if not self.rate_limit.allow():
            return False
        return self.user_limits is None or self.user_limits.frames.allow()

    # The socket's own backlog.

    def backlog_allows(self, pending: int) -> bool:
        """Whether ``pending`` layer messages may wait for this socket."""
        return self.max_pending is None or pending <= self.max_pending

    def fell_behind(self) -> Decision:
        """More layer messages wait than ``max_pending``: close with 1013."""
        if self.closed:
            return None
        self.state = ConnectionState.CLOSED
        return Close(CLOSE_TRY_AGAIN_LATER, "fell_behind")

    def send_timed_out(self) -> Decision:
        """A frame could not be sent in time (the client stopped reading): close with 1013."""
        if self.closed:
            return None
        self.state = ConnectionState.CLOSED
        return Close(CLOSE_TRY_AGAIN_LATER, "send_timeout")

    # Messages from the channel layer.

    def push(self, message: Push) -> Decision:
        """A stored notification for this user."""
        if self.closed:
            return None
        if message.site != self.site or message.group != self.group:
            return self._ignore(message)
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
        if message.site != self.site or message.group != self.group:
            return self._ignore(message)
        self._expect("inbox_change", ConnectionState.LIVE)
        return self._with_fresh_count(message.frame, message.unread_count, message.revision)

    def session_ended(self, message: SessionEnded) -> Decision:
        """A session of this user was logged out: close if it is this socket's."""
        if self.closed:
            return None
        if message.site != self.site or message.group != self.group:
            return self._ignore(message)
        if message.session_hash != self.session_hash:
            return None
        self.state = ConnectionState.CLOSED
        return Close(CLOSE_UNAUTHENTICATED, "logged_out")

    def recheck(self, message: RecheckSessions) -> Decision:
        """The user's sessions may have ended (or a periodic check is due)."""
        if self.closed:
            return None
        if message.site != self.site or message.group != self.group:
            return self._ignore(message)
        return CheckSession()

    def _ignore(self, message: Push | InboxChange | SessionEnded | RecheckSessions) -> Ignore:
        return Ignore("other_site" if message.site != self.site else "other_user")

    def session_checked(self, valid: bool, exists: bool) -> Decision:
        """The result of a :class:`CheckSession`: whether the session is still the
        user's, and whether its key still names a session at all."""
        if self.closed or valid:
            return None
        self.state = ConnectionState.CLOSED
        if exists:
            return Close(CLOSE_UNAUTHENTICATED, "session_ended")
        return Close(CLOSE_SESSION_CHANGED, "session_changed")

    # Counts.

    def _count(self, unread_count: int, revision: int) -> int:
        """The count to show with a message of ``revision``: the newest one seen."""
        if revision >= self.revision:
            self.unread_count, self.revision = unread_count, revision
        return self.unread_count

    def _with_fresh_count(self, frame: str, unread_count: int, revision: int) -> Send:
        count = self._count(unread_count, revision)
        return Send(frame if count == unread_count else protocol.with_unread_count(frame, count))
