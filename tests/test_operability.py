"""Operability against real server processes: socket tickets for non-browser clients,
the metrics and health endpoints, graceful shutdown (1012) across two processes, and
one log line per refusal or close."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
import websockets
from asgiref.sync import sync_to_async
from websockets.asyncio.client import connect

from livebell import anotify
from tests.adversary import CRASH_MARKERS, close_code, open_ws, report, until_synced
from tests.conftest import REDIS_URL, RUN_PREFIX, free_port, session_cookie
from tests.processes import (
    AsgiServer,
    RedisServer,
    asgi_servers,
    eventually,
    finish_producer,
    start_producer,
)
from tests.test_session_end import post

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]

MEMORY = {"BACKEND": "channels.layers.InMemoryChannelLayer"}
METRICS_TOKEN = "scraper-secret"


@pytest.fixture
def server(redis_required: None, settings: Any) -> Iterator[AsgiServer]:
    layer = {
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {"hosts": [REDIS_URL], "prefix": RUN_PREFIX},
    }
    settings.CHANNEL_LAYERS = {"default": layer}  # this process pushes through it too
    started = AsgiServer(
        layer,
        livebell={"TICKET_MAX_AGE_SECONDS": 2, "METRICS_TOKEN": METRICS_TOKEN},
        log_level="INFO",
    )
    yield started
    started.kill()


def http(
    server: AsgiServer, method: str, path: str, headers: dict[str, str] | None = None
) -> tuple[int, bytes]:
    request = urllib.request.Request(server.http + path, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def make_token(user: Any) -> str:
    from rest_framework.authtoken.models import Token

    return str(Token.objects.create(user=user).key)


def ticket_for(server: AsgiServer, token: str) -> str:
    status, body = http(
        server, "POST", "/api/notifications/socket-ticket/", {"Authorization": f"Token {token}"}
    )
    assert status == 200, body
    data = json.loads(body)
    assert data["expires_in"] == 2
    ticket: str = data["ticket"]
    return ticket


async def ticket_socket(server: AsgiServer, ticket: str) -> Any:
    # No cookie and no Origin: a mobile app or a script.
    return await open_ws(server, query=f"ticket={ticket}", origin=None)


# --- tickets -------------------------------------------------------------------------


async def test_a_ticket_opens_a_socket_once_for_its_user_only(
    server: AsgiServer, make_user: Any
) -> None:
    bob, alice = await sync_to_async(make_user)("bob"), await sync_to_async(make_user)("alice")
    token = await sync_to_async(make_token)(bob)
    ticket = ticket_for(server, token)
    assert token not in ticket

    ws = await ticket_socket(server, ticket)
    assert (await until_synced(ws))[-1]["type"] == "synced"
    [mine] = await anotify(bob, "for bob")
    await anotify(alice, "for alice")
    frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
    assert frame["notification"]["id"] == mine.pk
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(ws.recv(), 0.5)  # alice's never comes

    replayed = await ticket_socket(server, ticket)  # the same ticket again
    assert await close_code(replayed) == 4401
    forged = await ticket_socket(server, ticket[:-3] + "abc")
    assert await close_code(forged) == 4401
    garbage = await ticket_socket(server, "x" * 5000)
    assert await close_code(garbage) == 4401
    await ws.close()


async def header_ticket_socket(server: AsgiServer, ticket: str) -> Any:
    # The ticket in the Sec-WebSocket-Protocol header: nothing in the URL.
    return await open_ws(
        server, origin=None, subprotocols=["livebell", f"livebell.ticket.{ticket}"]
    )


async def test_a_ticket_in_the_subprotocol_header_opens_a_socket_and_is_not_echoed(
    server: AsgiServer, make_user: Any
) -> None:
    bob = await sync_to_async(make_user)("bob")
    token = await sync_to_async(make_token)(bob)
    ticket = ticket_for(server, token)

    ws = await header_ticket_socket(server, ticket)
    assert ws.request is not None and ws.response is not None
    assert ticket not in ws.request.path  # no credential in the URL (access logs)
    # The server accepts the plain subprotocol: the ticket never comes back.
    assert ws.subprotocol == "livebell"
    assert ws.response.headers.get_all("Sec-WebSocket-Protocol") == ["livebell"]
    assert ticket not in str(ws.response.headers)
    assert (await until_synced(ws))[-1]["type"] == "synced"
    [mine] = await anotify(bob, "for bob")
    frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
    assert frame["notification"]["id"] == mine.pk

    # Single use, whichever way it is offered; a forged one is refused too.
    assert await close_code(await header_ticket_socket(server, ticket)) == 4401
    assert await close_code(await ticket_socket(server, ticket)) == 4401
    forged = await header_ticket_socket(server, ticket[:-3] + "abc")
    assert await close_code(forged) == 4401
    # ?ticket= still works.
    query = await ticket_socket(server, ticket_for(server, token))
    assert (await until_synced(query))[-1]["type"] == "synced"
    await query.close()
    await ws.close()


async def test_a_ticket_expires_in_seconds(server: AsgiServer, make_user: Any) -> None:
    bob = await sync_to_async(make_user)("bob")
    ticket = ticket_for(server, await sync_to_async(make_token)(bob))
    await asyncio.sleep(3.2)  # TICKET_MAX_AGE_SECONDS is 2 on this server
    assert await close_code(await ticket_socket(server, ticket)) == 4401


async def test_unused_tickets_are_bounded_per_user(server: AsgiServer, make_user: Any) -> None:
    from livebell.live.tickets import MAX_UNUSED_PER_USER
    from livebell.models import SocketTicket

    bob = await sync_to_async(make_user)("bob")
    token = await sync_to_async(make_token)(bob)
    issued = [ticket_for(server, token) for _ in range(300)]
    rows = await SocketTicket.objects.filter(user=bob).acount()
    assert rows == MAX_UNUSED_PER_USER == 10
    # The oldest were dropped: they open nothing; the newest still work.
    assert await close_code(await ticket_socket(server, issued[0])) == 4401
    assert await close_code(await ticket_socket(server, issued[-11])) == 4401
    ws = await ticket_socket(server, issued[-10])
    assert (await until_synced(ws))[-1]["type"] == "synced"
    await ws.close()


async def test_expired_tickets_are_deleted_when_a_ticket_is_redeemed(
    server: AsgiServer, make_user: Any
) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from livebell.models import SocketTicket

    bob, carol = await sync_to_async(make_user)("bob"), await sync_to_async(make_user)("carol")
    carols = ticket_for(server, await sync_to_async(make_token)(carol))
    bob_token = await sync_to_async(make_token)(bob)
    for _ in range(5):
        ticket_for(server, bob_token)
    past = timezone.now() - timedelta(seconds=1)
    await SocketTicket.objects.filter(user=bob).aupdate(expires_at=past)  # bob's expired
    ws = await ticket_socket(server, carols)
    await until_synced(ws)
    assert not await SocketTicket.objects.aexists()
    await ws.close()


async def test_a_ticket_needs_authentication_and_csrf(server: AsgiServer, make_user: Any) -> None:
    status, _ = http(server, "POST", "/api/notifications/socket-ticket/")
    assert status == 401
    bob = await sync_to_async(make_user)("bob")
    cookie = await sync_to_async(session_cookie)(bob)
    # A session without the CSRF token (a page elsewhere posting with bob's cookie).
    status, _ = http(server, "POST", "/api/notifications/socket-ticket/", {"Cookie": cookie})
    assert status == 403


async def test_a_session_ticket_and_its_socket_end_with_the_logout(
    server: AsgiServer, make_user: Any
) -> None:
    bob = await sync_to_async(make_user)("bob")
    cookie = await sync_to_async(session_cookie)(bob)
    token = "a" * 32
    status, body = http(
        server,
        "POST",
        "/api/notifications/socket-ticket/",
        {"Cookie": f"{cookie}; csrftoken={token}", "X-CSRFToken": token, "Origin": server.origin},
    )
    assert status == 200, body
    first, second = json.loads(body)["ticket"], None
    status, body = http(
        server,
        "POST",
        "/api/notifications/socket-ticket/",
        {"Cookie": f"{cookie}; csrftoken={token}", "X-CSRFToken": token, "Origin": server.origin},
    )
    second = json.loads(body)["ticket"]
    ws = await ticket_socket(server, first)
    await until_synced(ws)
    assert post(server, "/accounts/logout/", cookie, {})[0] == 302
    assert await close_code(ws, timeout=3) == 4401  # the socket ends with the session
    assert await close_code(await ticket_socket(server, second)) == 4401  # unused: void


async def test_a_token_ticket_socket_ends_when_the_token_is_deleted(
    server: AsgiServer, make_user: Any
) -> None:
    from rest_framework.authtoken.models import Token

    bob = await sync_to_async(make_user)("bob")
    token = await sync_to_async(make_token)(bob)
    ws = await ticket_socket(server, ticket_for(server, token))
    await until_synced(ws)
    await Token.objects.filter(key=token).adelete()
    assert await close_code(ws, timeout=3) == 4401


async def test_cookie_sockets_still_need_the_origin(server: AsgiServer, make_user: Any) -> None:
    bob = await sync_to_async(make_user)("bob")
    cookie = await sync_to_async(session_cookie)(bob)
    with pytest.raises(websockets.InvalidStatus):
        await open_ws(server, cookie, origin="http://evil.example")
    # A ticket parameter that is no ticket gets no cookie socket either.
    ws = await open_ws(server, cookie, query="ticket=nothing", origin="http://evil.example")
    assert await close_code(ws) == 4401


# --- metrics and health ----------------------------------------------------------------


def metric(text: str, name: str, labels: str = "") -> float:
    pattern = re.escape(name) + (re.escape("{" + labels + "}") if labels else "") + r" (\S+)"
    found = re.search(r"^" + pattern + "$", text, re.MULTILINE)
    assert found, f"{name}{{{labels}}} not in the metrics"
    return float(found.group(1))


async def test_metrics_are_served_to_staff_and_the_scraper_only(
    server: AsgiServer, make_user: Any
) -> None:
    assert http(server, "GET", "/livebell/metrics/")[0] == 403
    bob = await sync_to_async(make_user)("bob")
    cookie = await sync_to_async(session_cookie)(bob)
    assert http(server, "GET", "/livebell/metrics/", {"Cookie": cookie})[0] == 403
    bearer = {"Authorization": "Bearer wrong"}
    assert http(server, "GET", "/livebell/metrics/", bearer)[0] == 403

    sockets = [await open_ws(server, cookie) for _ in range(3)]
    for ws in sockets:
        await until_synced(ws)
    await anotify(bob, "counted")
    for ws in sockets:
        await asyncio.wait_for(ws.recv(), 5)
    await sockets[0].close()
    anonymous = await open_ws(server)
    assert await close_code(anonymous) == 4401
    await asyncio.sleep(0.3)

    bearer = {"Authorization": f"Bearer {METRICS_TOKEN}"}
    status, body = http(server, "GET", "/livebell/metrics/", bearer)
    assert status == 200
    text = body.decode()
    assert metric(text, "livebell_sockets_open") == 2
    assert metric(text, "livebell_socket_connects_total") == 3
    assert metric(text, "livebell_socket_refusals_total", 'reason="unauthenticated"') == 1
    assert metric(text, "livebell_socket_closes_total", 'code="1000",side="client"') == 1
    assert metric(text, "livebell_socket_closes_total", 'code="4401",side="server"') == 1
    assert metric(text, "livebell_deliveries_total") == 3
    assert metric(text, "livebell_push_send_lag_seconds_count") == 3
    assert metric(text, "livebell_catch_ups_total") == 3
    assert "livebell_layer_failures_total" in text
    staff = await sync_to_async(make_user)("root", is_staff=True)
    staff_cookie = await sync_to_async(session_cookie)(staff)
    assert http(server, "GET", "/livebell/metrics/", {"Cookie": staff_cookie})[0] == 200
    for ws in sockets[1:]:
        await ws.close()


async def test_close_codes_a_client_picks_add_no_metric_series(
    server: AsgiServer, make_user: Any
) -> None:
    from livebell.metrics import KNOWN_CLOSE_CODES

    bob = await sync_to_async(make_user)("bob")
    cookie = await sync_to_async(session_cookie)(bob)
    for code in range(3000, 3100):  # 100 codes an application may send; none livebell's
        ws = await open_ws(server, cookie)
        await until_synced(ws)
        await ws.close(code=code)
    await asyncio.sleep(0.3)

    status, body = http(
        server, "GET", "/livebell/metrics/", {"Authorization": f"Bearer {METRICS_TOKEN}"}
    )
    assert status == 200
    labels = re.findall(r'^livebell_socket_closes_total\{code="([^"]*)"', body.decode(), re.M)
    assert set(labels) <= {str(code) for code in KNOWN_CLOSE_CODES} | {"other"}, labels
    assert (
        metric(body.decode(), "livebell_socket_closes_total", 'code="other",side="client"') == 100
    )


def test_health_is_ok_when_database_and_layer_answer(server: AsgiServer) -> None:
    status, body = http(server, "GET", "/livebell/health/")
    assert (status, json.loads(body)) == (
        200,
        {"status": "ok", "database": "ok", "channel_layer": "ok"},
    )


@pytest.mark.any_database
def test_health_checks_leave_no_subscription_behind(server: AsgiServer) -> None:
    import redis

    checks = 100  # before the fix, each one left a subscription behind
    client = redis.Redis.from_url(REDIS_URL)
    try:

        def channels() -> int:
            # The health checks' channels only: servers of earlier tests, killed, may
            # still be leaving theirs.
            return len(client.pubsub_channels(f"{RUN_PREFIX}*livebell.health.*"))

        assert http(server, "GET", "/livebell/health/")[0] == 200
        before, rss_before = channels(), server.rss_bytes()
        for _ in range(checks):
            assert http(server, "GET", "/livebell/health/")[0] == 200
        after, rss_after = channels(), server.rss_bytes()
    finally:
        client.close()
    report(
        f"health: {checks} checks on the pub/sub layer",
        {"channels_added": after - before, "rss_growth_KiB": (rss_after - rss_before) // 1024},
    )
    # Before: one more livebell.health.* subscription (and queue) per check.
    assert after == before, f"{after - before} subscriptions left by {checks} checks"


def test_health_fails_without_the_channel_layer(private_redis: RedisServer) -> None:
    layer = {
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {"hosts": [private_redis.url], "prefix": RUN_PREFIX},
    }
    with asgi_servers(layer, 1) as [server]:
        assert http(server, "GET", "/livebell/health/")[0] == 200
        private_redis.kill()
        status, body = http(server, "GET", "/livebell/health/")
        assert status == 503
        assert json.loads(body) == {
            "status": "fail",
            "database": "ok",
            "channel_layer": json.loads(body)["channel_layer"],
        }
        assert json.loads(body)["channel_layer"].startswith("fail: ")


def test_health_fails_without_the_database(monkeypatch: pytest.MonkeyPatch) -> None:
    # A database server that is not there (nothing listens on the port).
    monkeypatch.setattr(
        "tests.processes.test_database_url",
        lambda: f"postgres://postgres@127.0.0.1:{free_port()}/nowhere",
    )
    with asgi_servers(MEMORY, 1) as [server]:
        status, body = http(server, "GET", "/livebell/health/")
    assert status == 503
    data = json.loads(body)
    assert data["database"].startswith("fail: ") and data["channel_layer"] == "ok"
    assert "nowhere" not in body.decode()  # no connection details leak


# --- graceful shutdown ---------------------------------------------------------------


# How long RestartFollower waits before it reconnects after any close but 1012: far
# longer than a connect takes on a busy machine, so "at once" cannot be mistaken for it.
BACKOFF_SECONDS = 3.0


class RestartFollower:
    """A client like livebell.js: on 1012 it reconnects at once, to the next server,
    from its ``last_id``; it records every notification id it is sent."""

    def __init__(self, servers: list[AsgiServer], cookie: str) -> None:
        self.servers, self.cookie = servers, cookie
        self.index = 0
        self.received: list[int] = []
        self.last_id: int | None = None
        self.closes: list[tuple[int | None, float]] = []
        self.connected_at: list[float] = []
        self.synced = asyncio.Event()
        self.stopping = False
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while not self.stopping:
            server = self.servers[self.index % len(self.servers)]
            query = "" if self.last_id is None else f"?last_id={self.last_id}"
            try:
                async with connect(
                    server.url + query,
                    additional_headers={"Origin": server.origin, "Cookie": self.cookie},
                ) as ws:
                    self.connected_at.append(time.monotonic())
                    self.ws = ws
                    async for raw in ws:
                        frame = json.loads(raw)
                        if frame["type"] == "notification":
                            self.received.append(frame["notification"]["id"])
                            self.last_id = frame["notification"]["id"]
                        elif frame["type"] == "synced":
                            self.last_id = frame["last_id"]
                            self.synced.set()
            except (OSError, websockets.WebSocketException):
                pass
            self.closes.append((self.ws.close_code, time.monotonic()))
            if self.closes[-1][0] == 1012:
                self.index += 1  # at once, elsewhere
            elif not self.stopping:
                await asyncio.sleep(BACKOFF_SECONDS)

    async def stop(self) -> None:
        self.stopping = True
        await self.ws.close()
        await asyncio.wait_for(self.task, 10)


async def test_sigterm_closes_sockets_with_1012_and_clients_resume_elsewhere(
    private_redis: RedisServer, make_user: Any
) -> None:
    layer = {
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {"hosts": [private_redis.url], "prefix": RUN_PREFIX},
    }
    users = [await sync_to_async(make_user)(name) for name in ("bob", "carol")]
    with asgi_servers(
        layer, 2, log_level="INFO", options=("--timeout-graceful-shutdown", "10")
    ) as servers:
        clients = []
        for user in users:
            cookie = await sync_to_async(session_cookie)(user)
            clients.append(RestartFollower(servers, cookie))
        for client in clients:
            await asyncio.wait_for(client.synced.wait(), 10)
        producer = start_producer(layer, ["bob", "carol"], count=60, interval=0.03)
        await asyncio.sleep(0.6)
        stopped_at = time.monotonic()
        servers[0].process.send_signal(signal.SIGTERM)
        exit_code = await asyncio.to_thread(servers[0].process.wait, 15)
        exited_after = time.monotonic() - stopped_at
        summary = await sync_to_async(finish_producer)(producer)
        recipients = await _recipients(summary["created"])
        for client, user in zip(clients, users, strict=True):
            expected = [pk for pk in summary["created"] if recipients[pk] == user.pk]
            await eventually(lambda c=client, e=expected: c.received[-1:] == e[-1:], timeout=15)
            assert client.received == expected  # nothing lost, nothing twice, in order
            [(code, closed_at)] = client.closes
            assert code == 1012
            # At once, not after a backoff (a connect took 0.52 s once, in a busy CI run).
            assert client.connected_at[1] - closed_at < BACKOFF_SECONDS / 2
        log = servers[0].log()
        for client in clients:
            await client.stop()
    # uvicorn shuts down, then raises SIGTERM again to exit as the signal says (-15).
    assert exit_code == -signal.SIGTERM and exited_after < 5, (exit_code, exited_after)
    assert not any(marker in log for marker in CRASH_MARKERS), log


async def _recipients(ids: list[int]) -> dict[int, Any]:
    from livebell.models import Notification

    rows = Notification.objects.filter(pk__in=ids).values_list("pk", "recipient_id")
    return {pk: recipient async for pk, recipient in rows}


# --- logs ----------------------------------------------------------------------------


async def test_one_log_line_per_refusal_and_close_and_none_per_bad_frame(
    server: AsgiServer, make_user: Any
) -> None:
    bob = await sync_to_async(make_user)("bob")
    cookie = await sync_to_async(session_cookie)(bob)
    ws = await open_ws(server, cookie)
    await until_synced(ws)
    for _ in range(25):
        await ws.send("{not json")
    for _ in range(25):
        await asyncio.wait_for(ws.recv(), 5)
    await ws.close()
    assert await close_code(await open_ws(server)) == 4401
    with pytest.raises(websockets.InvalidStatus):
        await open_ws(server, cookie, origin="http://evil.example")
    await asyncio.sleep(0.3)
    lines = [line for line in server.log().splitlines() if line.strip()]
    livebell_lines = [line for line in lines if line.startswith("livebell:")]
    assert livebell_lines == [
        "livebell: socket refused code=4401 reason=unauthenticated user=- seconds="
        + livebell_lines[0].rsplit("=", 1)[1],
        "livebell: socket refused reason=origin origin='http://evil.example' host="
        + repr(f"127.0.0.1:{server.port}"),
    ], lines
    assert lines == livebell_lines  # nothing else: no traceback, nothing per bad frame
