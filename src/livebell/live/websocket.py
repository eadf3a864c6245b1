"""The WebSocket transport of a reader's session: one per browser tab.

:class:`NotificationConsumer` carries out what a :class:`livebell.live.session.Session`
decides, and tells it what happened. What every transport does — the hub, the
mailbox, the database calls, the timers, the close logs — is
:class:`livebell.live.transport.SessionTransport`'s; this module owns the WebSocket's
own I/O: the handshake and its credentials (:func:`livebell.live.credentials.authenticate`),
the client's frames, and the ASGI send and its deadlines.

It is a plain ASGI application, not a Channels consumer. A Channels consumer reads
the client's frames as fast as they come, gives every socket a layer channel and
group memberships of its own, and offers no deadline on a send; this transport
needs the opposite of each (frames read a few at a time, one hub per process, a
deadline on every send), and a subclass that replaced Channels' ``__call__`` and
``dispatch`` would show its users hooks that do nothing. ``as_asgi()`` keeps the
name routing files already use.

What one socket may hold is bounded:

- **inbound**, the client's frames are read a few at a time (``READ_AHEAD``): the
  ASGI server stops reading the TCP socket until the session has handled them, so
  a client that sends faster than it is served is held back by TCP itself;
- **from the layer**, at most ``MAX_PENDING_MESSAGES`` messages wait in the
  mailbox; a socket that falls further behind is closed with 1013;
- **outbound**, a frame the server cannot take within ``SEND_TIMEOUT_SECONDS``
  (the client stopped reading and the server's write buffer is full) closes the
  socket with 1013. The close frame then waits, up to
  ``CLOSE_SEND_TIMEOUT_SECONDS``, for the client to read again: ASGI servers
  (uvicorn, daphne) take no frame while their buffer is full, and a close frame
  given up on is never seen, so the client would see the connection drop (1006)
  or the server's own keepalive timeout (1011) instead of 1013.

Sends after the socket closed — the client left during a catch-up, or the ASGI
server closed the socket for a protocol error — are dropped quietly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

from django.conf import settings

from livebell import metrics, protocol
from livebell.live._deadlines import deadline
from livebell.live.credentials import Reader, authenticate
from livebell.live.session import (
    CLOSE_UNAUTHENTICATED,
    ClientFrame,
    Close,
    ReaderLanguage,
    SendTimedOut,
    TransportClosed,
    choose_language,
)
from livebell.live.transport import (
    CLOSE_SEND_TIMEOUT_SECONDS,
    SessionTransport,
    reader_language_input,
)

__all__ = [
    "CLOSE_UNAUTHENTICATED",
    "READ_AHEAD",
    "NotificationConsumer",
    "Reader",
    "authenticate",
    "reader_language",
]

logger = logging.getLogger("livebell.socket")

AsgiApp = Callable[[dict[str, Any], Any, Any], Awaitable[None]]

#: Client frames read ahead of the one being handled. More would undo the ASGI
#: server's backpressure (it stops reading the TCP socket while its queue is full).
READ_AHEAD = 4


def reader_language(scope: dict[str, Any]) -> str:
    """The language the socket's reader reads, chosen as Django's LocaleMiddleware would:
    the language cookie, else the browser's ``Accept-Language``, else ``LANGUAGE_CODE``."""
    return choose_language(_reader_language_input(scope))


def _reader_language_input(scope: dict[str, Any]) -> ReaderLanguage:
    accept = b",".join(
        value for name, value in scope.get("headers", ()) if name == b"accept-language"
    )
    return reader_language_input(
        protocol.handshake_cookies(scope).get(settings.LANGUAGE_COOKIE_NAME),
        accept.decode("latin-1"),
    )


class NotificationConsumer(SessionTransport):
    """Serves one socket: a :class:`~livebell.live.session.Session` and its effects.

    Anonymous sockets are accepted and closed at once with code 4401, so browsers
    see a reason instead of a failed handshake. The socket joins its process's hub
    for the user's messages *before* the session loads its catch-up, and handles
    one mailbox item at a time, so pushes that arrive during a catch-up wait and
    are then dropped if the catch-up already sent them.
    """

    @classmethod
    def as_asgi(cls) -> AsgiApp:
        """The ASGI application serving one socket per call (mount it in a URLRouter)."""

        async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
            await cls(scope, send).run(receive)

        return app

    def __init__(self, scope: dict[str, Any], send: Any) -> None:
        super().__init__(logger=logger, kind="socket")
        self.scope = scope
        self._asgi_send = send
        self._read_credit = asyncio.Semaphore(READ_AHEAD)
        self._accepted = False
        self._close_sent = False

    async def run(self, receive: Any) -> None:
        """Serve the socket from its handshake until it closes."""
        if (await receive())["type"] != "websocket.connect":
            return
        pump = asyncio.create_task(self._pump(receive))
        try:
            raw = parse_qs(self.scope.get("query_string", b"").decode("latin-1")).get("last_id")
            await self._open_session(
                await authenticate(self.scope),
                raw[-1] if raw else None,
                _reader_language_input(self.scope),
            )
            while not self._client_gone:
                item = await self.mailbox.get()
                if isinstance(item, BaseException):
                    raise item
                if isinstance(item, dict):
                    try:
                        await self._on_client(item)
                    finally:
                        self._read_credit.release()
                else:
                    await self._handle_item(item)
                # One item per turn of the event loop: a socket with a full mailbox
                # (a flooder) must not starve the process's other sockets.
                if not self.mailbox.empty():
                    await asyncio.sleep(0)
        finally:
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pump
            await self._finish()

    async def _accept(self) -> None:
        await self._send(
            {"type": "websocket.accept", "subprotocol": protocol.accepted_subprotocol(self.scope)}
        )

    async def _pump(self, receive: Any) -> None:
        """Move the client's messages into the mailbox, ``READ_AHEAD`` at most at a time."""
        try:
            while True:
                await self._read_credit.acquire()
                message = await receive()
                self.mailbox.put_nowait(message)
                if message["type"] == "websocket.disconnect":
                    return
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # re-raised by run(), not lost in this task
            self.mailbox.put_nowait(exc)

    async def _on_client(self, message: dict[str, Any]) -> None:
        """A frame from the client, or the socket's end."""
        session = self.session
        assert session is not None
        if message["type"] == "websocket.receive":
            effects = session.handle(ClientFrame(message.get("text")))
            metrics.FRAMES_RECEIVED.labels(session.last_error or "ok").inc()
            await self._carry_out(effects)
        elif message["type"] == "websocket.disconnect":
            code = message.get("code", 1000)
            if session.close_effect is None:
                # Closed by the client, or by the server for it (1012 on restart,
                # 1006 when the connection dropped).
                metrics.CLOSES.labels(metrics.close_code_label(code), "client").inc()
                logger.debug(
                    "livebell: socket ended code=%s user=%s",
                    code,
                    session.user_id,
                    extra={"event": "socket.ended", "close_code": code, "side": "client"},
                )
            session.handle(TransportClosed(code))
            self._client_gone = True

    async def _send_frame(self, frame: str) -> None:
        """Send one frame; one that the server cannot take in time closes the socket."""
        try:
            await self._send({"type": "websocket.send", "text": frame}, self.send_timeout)
        except TimeoutError:
            await self._carry_out(self.session.handle(SendTimedOut()))  # type: ignore[union-attr]
            return
        self._sent(frame)

    async def _close(self, close: Close) -> None:
        """Close the socket; nothing of this user's reaches it any more."""
        await self._closing(close)
        with contextlib.suppress(TimeoutError):
            await self._send(
                {"type": "websocket.close", "code": close.code}, CLOSE_SEND_TIMEOUT_SECONDS
            )
        if not self._close_sent:
            self._client_gone = True  # could not even take the close frame: given up

    async def _send(self, message: dict[str, Any], within: float | None = None) -> None:
        """Send an ASGI message, unless the socket is closed.

        After the close was sent, or once the client is gone (the server raises
        ``ClientDisconnected``, an ``OSError``, or refuses a send after closing the
        socket itself for a protocol error), sends are dropped.

        Raises:
            TimeoutError: the server did not take it ``within`` seconds.
        """
        kind = message["type"]
        if self._close_sent or self._client_gone:
            return
        try:
            if within is None:
                await self._asgi_send(message)
            else:
                with deadline(within):
                    await self._asgi_send(message)
        except TimeoutError:
            raise  # an OSError too, but not a client that left
        except OSError:
            self._client_gone = True
            return
        except RuntimeError:
            # uvicorn: "Unexpected ASGI message 'websocket.send', after sending
            # 'websocket.close'" — it closed the socket itself (a bad frame, a
            # keepalive timeout). Before the handshake, a RuntimeError is a bug.
            if not self._accepted:
                raise
            self._client_gone = True
            return
        if kind == "websocket.accept":
            self._accepted = True
        elif kind == "websocket.close":
            self._close_sent = True
        elif kind == "websocket.send":
            self._tally.sent(len(message["text"]))
