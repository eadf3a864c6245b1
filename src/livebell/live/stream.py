"""The event-stream transport of a reader's session: Server-Sent Events.

Some proxies and networks refuse WebSocket upgrades. A client that cannot open
the socket reads the same session over a plain ``GET`` instead:
``<API prefix>stream/`` (``reverse("livebell:stream")``) answers
``text/event-stream``, one event per frame the socket would send — the same
JSON in ``data:`` — and an ``id:`` with the newest notification id the client
has once it read the event (on ``notification``, ``synced`` and ``burst``), so
that a reconnect's ``Last-Event-ID`` (or ``?last_id=``) resumes exactly as the
socket's ``?last_id=`` does: a catch-up, then ``synced``. There are no client
frames: a client on the stream changes read state over the REST API.

**A Django async view**, not an ASGI application of its own: it is served by the
project's ``include("livebell.urls")`` under the API's prefix, through the
site's middleware (its session among them), with no line to add to ``asgi.py``.
It needs an ASGI server (uvicorn, daphne). Django's ASGI handler listens for the
client's disconnect while it streams a response and cancels the response's task
then (Django 5.x and 6.x alike); the stream's own task stops with it.

Authentication is :func:`livebell.live.credentials.authenticate_request`: a ticket
(``?ticket=``), or the session of the cookie when the request comes from a page
of the site (``Origin``, else ``Sec-Fetch-Site``). Refused before the stream
starts, in the API's JSON shape (``{"detail": …}``): 403 for a request from
another site, for nobody logged in and for a bad ticket; 405 for a method other
than ``GET``.

Once the stream started, the session rules it as it rules a socket
(:class:`~livebell.live.transport.SessionTransport`: the same limits, counted with
the user's sockets; the same session checks), and where a socket would close
with a code, the stream's last event is ``{"type": "close", "code": …,
"reason": …}`` (:func:`livebell.protocol.close_frame`) and the response ends.
A comment line (``: heartbeat``) goes out after ``STREAM_HEARTBEAT_SECONDS``
without an event; the first lines are a ``retry:`` hint.

What one stream may hold is bounded: ``MAX_PENDING_MESSAGES`` layer messages
wait in its mailbox (past that: ``fell_behind``, 1013), and at most
:data:`OUTBOX_EVENTS` events wait for the ASGI server to take them; an event
that cannot wait within ``SEND_TIMEOUT_SECONDS`` (the client stopped reading and
the server's buffer is full) ends the session (``send_timeout``, 1013): it
leaves the hub and its timers stop, and its close event is the last thing the
client reads if it reads again. The connection itself is the ASGI server's: a
Django view cannot drop it, so a client that never reads again holds one idle
connection until its TCP connection or the server's timeouts end it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

from django.conf import settings
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, JsonResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.utils.translation import gettext as _
from rest_framework.exceptions import AuthenticationFailed, MethodNotAllowed, NotAuthenticated

from livebell import metrics, protocol
from livebell.conf import livebell_settings
from livebell.live import credentials
from livebell.live.session import Close, SendTimedOut, TransportClosed
from livebell.live.transport import (
    CLOSE_SEND_TIMEOUT_SECONDS,
    SessionTransport,
    reader_language_input,
)

__all__ = ["OUTBOX_EVENTS", "RETRY_MILLISECONDS", "EventStream", "event", "stream_view"]

logger = logging.getLogger("livebell.stream")

#: The reconnection delay the stream suggests to ``EventSource`` (``retry:``).
RETRY_MILLISECONDS = 3000
#: Events that may wait for the ASGI server to take them.
OUTBOX_EVENTS = 64

_HEARTBEAT = b": heartbeat\n\n"


def event(frame: str) -> bytes:
    """One server-sent event carrying ``frame``, with the ``id:`` of the newest
    notification id it tells the client of, if any."""
    last_id = protocol.frame_last_id(frame)
    head = "" if last_id is None else f"id: {last_id}\n"
    # A frame is compact JSON, one line; a line break would end the field early.
    data = "".join(f"data: {line}\n" for line in frame.split("\n"))
    return f"{head}{data}\n".encode()


async def stream_view(request: HttpRequest) -> HttpResponseBase:
    """``GET <API prefix>stream/``: the reader's notifications as Server-Sent Events."""
    if request.method != "GET":
        refusal = _error(MethodNotAllowed(str(request.method)).detail, 405)
        refusal["Allow"] = "GET"
        return refusal
    if not isinstance(request, ASGIRequest):
        return _error(_("The notification stream needs an ASGI server."), 501)
    reader = await credentials.authenticate_request(request)
    if not reader.authenticated:
        metrics.REFUSALS.labels(reader.refusal).inc()
        logger.info(
            "livebell: stream refused reason=%s",
            reader.refusal,
            extra={"event": "stream.refused", "reason": reader.refusal},
        )
        return _error(_refusal_detail(reader.refusal), 403)
    stream = EventStream(request, reader)
    response = StreamingHttpResponse(stream.events(), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache, no-transform"
    response["X-Accel-Buffering"] = "no"  # nginx: pass each event on at once
    return response


def _refusal_detail(refusal: str) -> str:
    if refusal == "cross_site":
        return _("A page of another site may not open the notification stream.")
    if refusal == "bad_ticket":
        return str(AuthenticationFailed.default_detail)
    return str(NotAuthenticated.default_detail)


def _error(detail: Any, status: int) -> JsonResponse:
    return JsonResponse({"detail": str(detail)}, status=status)


class EventStream(SessionTransport):
    """Serves one stream: a :class:`~livebell.live.session.Session` and its effects.

    :meth:`events` is the response's body. It starts the task that runs the
    session (:meth:`_run`), and hands the ASGI server what that task put in the
    outbox, every waiting event in one chunk; when the client leaves, Django
    cancels the body, which cancels the task.
    """

    def __init__(self, request: HttpRequest, reader: credentials.Reader) -> None:
        super().__init__(logger=logger, kind="stream")
        self.reader = reader
        self._last_id = request.headers.get("Last-Event-ID") or request.GET.get("last_id")
        self._language = reader_language_input(
            request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME),
            request.headers.get("Accept-Language", ""),
        )
        self._outbox: deque[bytes] = deque()
        self._ready = asyncio.Event()  # the outbox has something, or the stream ended
        self._taken = asyncio.Event()  # the body took what waited
        self._ended = False

    async def events(self) -> AsyncIterator[bytes]:
        """The response's body: the session's events until it ends or the client leaves."""
        runner = asyncio.create_task(self._run())
        try:
            yield f"retry: {RETRY_MILLISECONDS}\n\n".encode()
            while True:
                while not self._outbox:
                    if self._ended:
                        return
                    self._ready.clear()
                    await self._ready.wait()
                chunk = b"".join(self._outbox)
                self._outbox.clear()
                self._taken.set()
                yield chunk
        finally:
            if not runner.done():
                runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await runner

    async def _run(self) -> None:
        """Open the session, then hand it the mailbox, with heartbeats in the pauses."""
        assert self.reader is not None
        try:
            await self._open_session(self.reader, self._last_id, self._language)
            heartbeat = float(livebell_settings.STREAM_HEARTBEAT_SECONDS)
            while not self._client_gone:
                try:
                    async with asyncio.timeout(heartbeat):
                        item = await self.mailbox.get()
                except TimeoutError:
                    if not await self._put(_HEARTBEAT, self.send_timeout):
                        await self._carry_out(self.session.handle(SendTimedOut()))  # type: ignore[union-attr]
                    continue
                await self._handle_item(item)
                if not self.mailbox.empty():
                    await asyncio.sleep(0)  # one item per turn, as a socket does
        except asyncio.CancelledError:
            self._client_left()
            raise
        except Exception:
            logger.exception("livebell: stream failed", extra={"event": "stream.failed"})
        finally:
            self._end()
            await self._finish()

    def _client_left(self) -> None:
        session = self.session
        if session is not None and session.close_effect is None:
            # The connection dropped, or the client closed it.
            metrics.CLOSES.labels(metrics.close_code_label(1006), "client").inc()
            logger.debug(
                "livebell: stream ended user=%s",
                session.user_id,
                extra={"event": "stream.ended", "close_code": 1006, "side": "client"},
            )
            session.handle(TransportClosed(1006))

    async def _accept(self) -> None:
        """Nothing to do: the response started before the session opened."""

    async def _send_frame(self, frame: str) -> None:
        """Queue one event; one that cannot wait in time ends the session (1013)."""
        chunk = event(frame)
        if not await self._put(chunk, self.send_timeout):
            await self._carry_out(self.session.handle(SendTimedOut()))  # type: ignore[union-attr]
            return
        self._tally.sent(len(chunk))
        self._sent(frame)

    async def _close(self, close: Close) -> None:
        """End the stream with a ``close`` event; nothing of this user's reaches it any more."""
        await self._closing(close)
        await self._put(
            event(protocol.close_frame(close.code, close.reason)), CLOSE_SEND_TIMEOUT_SECONDS
        )
        self._end()
        self._client_gone = True

    async def _put(self, chunk: bytes, within: float) -> bool:
        """Add ``chunk`` to the outbox, waiting up to ``within`` seconds for room;
        False if there was none in time (or the stream ended)."""
        try:
            async with asyncio.timeout(within):
                while len(self._outbox) >= OUTBOX_EVENTS and not self._ended:
                    self._taken.clear()
                    await self._taken.wait()
        except TimeoutError:
            return False
        if self._ended:
            return False
        self._outbox.append(chunk)
        self._ready.set()
        return True

    def _end(self) -> None:
        self._ended = True
        self._ready.set()
