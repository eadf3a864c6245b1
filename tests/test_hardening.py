"""Hardening against a real server process: clients that leave during the connect
(defect 7), origins by scheme, host and port (2), the REST parser and malformed ids
(5), the transport's frame cap (6), the production settings (8)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
import websockets
from asgiref.sync import sync_to_async

from tests.adversary import (
    CRASH_MARKERS,
    close_code,
    masked_frame,
    open_ws,
    seed_notifications,
    small_receive_buffer_socket,
    until_synced,
)
from tests.conftest import free_port, session_cookie
from tests.processes import ROOT, AsgiServer

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]


@pytest.fixture
def server() -> Iterator[AsgiServer]:
    started = AsgiServer({"BACKEND": "channels.layers.InMemoryChannelLayer"}, log_level="INFO")
    yield started
    started.kill()


# --- 7. clients that leave at every step of the connect -----------------------------


def handshake(server: AsgiServer, cookie: str, query: str) -> bytes:
    key = "dGhlIHNhbXBsZSBub25jZQ=="
    return (
        f"GET /ws/notifications/?{query} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
        f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
        f"Sec-WebSocket-Version: 13\r\nOrigin: {server.origin}\r\nCookie: {cookie}\r\n\r\n"
    ).encode()


async def leave_after(server: AsgiServer, cookie: str, step: str) -> None:
    """Connect with a 500-notification catch-up and leave at ``step``."""
    reader, writer = await asyncio.open_connection(sock=small_receive_buffer_socket(server))
    try:
        await _leave(reader, writer, server, cookie, step)
    except (OSError, asyncio.IncompleteReadError):
        pass  # the server may close first: that is the point
    finally:
        writer.transport.abort()


async def _leave(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    server: AsgiServer,
    cookie: str,
    step: str,
) -> None:
    writer.write(handshake(server, cookie, "last_id=0"))
    if step == "handshake_sent":
        writer.transport.abort()
        return
    await reader.readuntil(b"\r\n\r\n")  # 101 Switching Protocols
    if step == "accepted_reset":
        writer.transport.abort()  # RST: no close frame
    elif step == "accepted_close":
        writer.write(masked_frame(0x8, b"\x03\xe8"))  # a clean close, 1000
        await writer.drain()
        writer.close()
    elif step == "bad_utf8":
        # The server closes the socket itself (1007) while the catch-up is loading.
        writer.write(masked_frame(0x1, b"\xff\xfe"))
        await writer.drain()
        await asyncio.sleep(0.5)
        writer.transport.abort()
    elif step == "oversized":
        writer.write(masked_frame(0x1, b"x" * 70000))  # past --ws-max-size: 1009
        await writer.drain()
        await asyncio.sleep(0.5)
        writer.transport.abort()
    elif step == "bad_utf8_slow_reader":
        # The catch-up (3.5 MB) fills the buffers and the server's send waits; the
        # server closes the socket for the bad frame; then the client reads a little,
        # the send goes on — after the server's close.
        await asyncio.sleep(1.0)
        writer.write(masked_frame(0x1, b"\xff\xfe"))
        await writer.drain()
        await asyncio.sleep(0.3)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(2.0):
                while await reader.read(65536):
                    pass
        writer.transport.abort()
    elif step == "first_notification":
        await reader.read(100)
        writer.transport.abort()
    elif step == "mid_catch_up":
        await reader.read(200_000)
        writer.transport.abort()


STEPS = [
    "bad_utf8_slow_reader",
    "handshake_sent",
    "accepted_reset",
    "accepted_close",
    "bad_utf8",
    "oversized",
    "first_notification",
    "mid_catch_up",
]


async def test_clients_that_leave_at_every_step_of_the_connect(
    server: AsgiServer, make_user: Any
) -> None:
    bob = await sync_to_async(make_user)("bob")
    ids = await sync_to_async(seed_notifications)(bob, 500, data_bytes=7000)
    cookie = await sync_to_async(session_cookie)(bob)
    for _ in range(3):
        await asyncio.gather(*(leave_after(server, cookie, step) for step in STEPS))
    await asyncio.sleep(3.0)  # every consumer has finished its catch-up by now
    log = server.log()
    assert not any(marker in log for marker in CRASH_MARKERS), log
    assert server.alive()
    ws = await open_ws(server, cookie, query="last_id=0")
    frames = await until_synced(ws)
    # The user's catch-up budget is spent by now (24 catch-ups of 500): truncated.
    assert frames[-1] == {"type": "synced", "last_id": ids[-1], "unread_count": 500,
                          "truncated": True}  # fmt: skip
    await ws.close()


# --- 2. origins: scheme, host and port ------------------------------------------------


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        ("{own}", True),
        ("http://127.0.0.1:{other_port}", False),  # another port of the same host
        ("https://127.0.0.1:{port}", False),  # another scheme
        ("http://localhost:{port}", False),  # another host name
        ("http://127.0.0.1", False),  # the default port is another port
        ("null", False),
        (None, False),  # no Origin at all
    ],
)
async def test_only_the_sites_own_origin_may_open_a_cookie_socket(
    server: AsgiServer, make_user: Any, origin: str | None, allowed: bool
) -> None:
    bob = await sync_to_async(make_user)("bob")
    cookie = await sync_to_async(session_cookie)(bob)
    if origin is not None:
        origin = origin.format(own=server.origin, port=server.port, other_port=free_port())
    if allowed:
        ws = await open_ws(server, cookie, origin=origin)
        assert (await until_synced(ws))[-1]["type"] == "synced"
        await ws.close()
        return
    with pytest.raises(websockets.InvalidStatus) as refused:
        await open_ws(server, cookie, origin=origin)
    assert refused.value.response.status_code == 403
    assert "reason=origin" in server.log()


# --- 5. the REST API: deep JSON, malformed ids ---------------------------------------


def rest(
    server: AsgiServer, method: str, path: str, token: str, body: bytes | None = None
) -> tuple[int, str, Any]:
    request = urllib.request.Request(
        server.http + path,
        data=body,
        method=method,
        headers={"Authorization": f"Token {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status, headers, raw = response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        status, headers, raw = error.code, error.headers, error.read()
    content_type = headers.get("Content-Type", "")
    return status, content_type, json.loads(raw) if "json" in content_type and raw else raw


def make_token(user: Any) -> str:
    from rest_framework.authtoken.models import Token

    return str(Token.objects.create(user=user).key)


def write_endpoints() -> list[tuple[str, str]]:
    """Every (method, path) of livebell's URLconf that may take a body, found by walking
    its patterns (a new endpoint cannot be missed), with ``1`` for an id."""
    from django.urls import reverse
    from rest_framework.views import APIView

    from livebell import urls

    found = []
    for pattern in urls.urlpatterns:
        view = getattr(pattern.callback, "cls", None)
        if view is None or not issubclass(view, APIView):
            continue
        assert pattern.name, f"an API route without a name: {pattern.pattern}"
        takes_id = "id" in pattern.pattern.regex.groupindex
        url = reverse(f"livebell:{pattern.name}", kwargs={"id": "1"} if takes_id else None)
        for method in ("post", "put", "patch", "delete"):
            if hasattr(view, method):
                found.append((method.upper(), url))
    return found


def test_every_api_view_reads_bodies_with_the_one_bounded_parser() -> None:
    from livebell import urls
    from livebell.rest.parsers import BoundedJSONParser
    from livebell.rest.views import InboxView

    views = [p.callback.cls for p in urls.urlpatterns if hasattr(p.callback, "cls")]
    assert len(views) == 13
    for view in views:
        assert issubclass(view, InboxView), view
        assert [type(parser) for parser in view().get_parsers()] == [BoundedJSONParser], view


async def test_deeply_nested_json_is_a_400_not_a_500(server: AsgiServer, make_user: Any) -> None:
    bob = await sync_to_async(make_user)("bob")
    token = await sync_to_async(make_token)(bob)
    endpoints = await sync_to_async(write_endpoints)()
    # mark-read, mark-unread, mark-all-read, socket-ticket, preferences (PATCH),
    # mutes (POST), mutes/1 and 1 (DELETE), webpush/subscriptions (POST) and its 1
    # (DELETE), webpush/received (POST).
    assert len(endpoints) == 11, endpoints
    for body in (b"[" * 1000 + b"]" * 1000, b'{"ids": ' + b"[" * 1000 + b"]" * 1000 + b"}"):
        assert len(body) < 2100
        for method, path in endpoints:
            status, content_type, data = rest(server, method, path, token, body)
            assert (status, content_type) == (400, "application/json"), (method, path, data)
            assert set(data) == {"detail"} and "nest" in data["detail"], (method, path, data)
    assert not any(marker in server.log() for marker in CRASH_MARKERS)


async def test_a_body_over_the_limit_is_a_json_413_on_every_endpoint(
    server: AsgiServer, make_user: Any
) -> None:
    from django.conf import settings

    from livebell.rest.parsers import MAX_BODY_BYTES

    bob = await sync_to_async(make_user)("bob")
    token = await sync_to_async(make_token)(bob)
    cookie = await sync_to_async(session_cookie)(bob)
    over_django = b'{"ids": [' + b" " * settings.DATA_UPLOAD_MAX_MEMORY_SIZE + b"1]}"
    over_ours = b'{"ids": [' + b" " * MAX_BODY_BYTES + b"1]}"
    for method, path in await sync_to_async(write_endpoints)():
        for body in (over_ours, over_django):
            status, content_type, data = rest(server, method, path, token, body)
            assert (status, content_type) == (413, "application/json"), (method, path, data)
            assert data == {"detail": f"The body is larger than {MAX_BODY_BYTES} bytes."}
    # A form body too large for Django, with a session: the CSRF check reads the form
    # through DRF, so through the one parser, which takes JSON only.
    request = urllib.request.Request(
        server.http + "/api/notifications/mark-read/",
        data=b"a=" + b"1" * settings.DATA_UPLOAD_MAX_MEMORY_SIZE,
        method="POST",
        headers={"Cookie": f"{cookie}; csrftoken={'a' * 32}", "Origin": server.origin},
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        await asyncio.to_thread(urllib.request.urlopen, request, timeout=10)
    assert (refused.value.code, refused.value.headers["Content-Type"]) == (415, "application/json")
    assert set(json.loads(refused.value.read())) == {"detail"}


@pytest.mark.parametrize(
    "raw_id", ["1%2F2", "%2F", "a%2Fb%2Fc", "..%2F..%2Fadmin", "1%00", "1%0A", "%0A", "1%0D%0A"]
)
async def test_malformed_ids_get_the_apis_json_404(
    server: AsgiServer, make_user: Any, raw_id: str
) -> None:
    bob = await sync_to_async(make_user)("bob")
    token = await sync_to_async(make_token)(bob)
    for path in (f"/api/notifications/{raw_id}/", f"/api/notifications/mutes/{raw_id}/"):
        status, content_type, data = rest(server, "DELETE", path, token)
        assert (status, content_type) == (404, "application/json"), (path, data)
        assert data == {"detail": "Not found."}


async def test_unmatched_paths_under_the_api_get_json_and_the_site_keeps_its_pages(
    server: AsgiServer, make_user: Any
) -> None:
    bob = await sync_to_async(make_user)("bob")
    token = await sync_to_async(make_token)(bob)
    # Without the slash, CommonMiddleware still redirects (APPEND_SLASH), and the
    # redirect, followed, lands on the API's answer.
    status, _, data = rest(server, "GET", "/api/notifications/unread-count", token)
    assert (status, data) == (200, {"count": 0})
    status, content_type, data = rest(server, "GET", "/api/notifications/1%0A", token)
    assert (status, content_type) == (405, "application/json"), data
    # Outside the API's prefix, the site's own HTML 404.
    status, content_type, data = rest(server, "GET", "/nothing-here%0A/", token)
    assert (status, content_type.split(";")[0]) == (404, "text/html"), data


def test_without_append_slash_unmatched_paths_are_the_apis_404(client: Any, settings: Any) -> None:
    settings.APPEND_SLASH = False
    for path in (
        "/api/notifications/unread-count",
        "/api/notifications/1%0A",
        "/api/notifications/mutes/1",
    ):
        response = client.get(path)
        assert (response.status_code, response["Content-Type"]) == (404, "application/json")
        assert response.json() == {"detail": "Not found."}
    response = client.get("/accounts/nothing")
    assert (response.status_code, response["Content-Type"].split(";")[0]) == (404, "text/html")
    settings.APPEND_SLASH = True
    response = client.get("/api/notifications/unread-count")
    assert (response.status_code, response["Location"]) == (301, "/api/notifications/unread-count/")


async def test_a_frame_nested_deeply_gets_an_error_frame(
    server: AsgiServer, make_user: Any
) -> None:
    bob = await sync_to_async(make_user)("bob")
    ws = await open_ws(server, await sync_to_async(session_cookie)(bob))
    await until_synced(ws)
    await ws.send('{"type": "mark_read", "ids": ' + "[" * 1000 + "]" * 1000 + "}")
    frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
    assert (frame["type"], frame["code"]) == ("error", "bad_frame")
    await ws.send('{"type": "ping"}')
    assert json.loads(await asyncio.wait_for(ws.recv(), 5)) == {"type": "pong"}
    await ws.close()
    assert not any(marker in server.log() for marker in CRASH_MARKERS)


# --- 6. the transport's frame cap ----------------------------------------------------


async def test_frames_over_the_transport_cap_are_refused_before_being_read(
    server: AsgiServer, make_user: Any
) -> None:
    bob = await sync_to_async(make_user)("bob")
    ws = await open_ws(server, await sync_to_async(session_cookie)(bob), max_size=None)
    await until_synced(ws)
    await ws.send("x" * 100_000)
    assert await close_code(ws) == 1009  # "message too big", from uvicorn's --ws-max-size


def test_every_server_the_project_starts_caps_frames() -> None:
    """The test servers, the bench's and the docs' commands all pass --ws-max-size; the
    bench's granian target, which has no such option, is the documented exception."""
    from bench.targets import TARGETS, _uvicorn

    assert "--ws-max-size=65536" in _uvicorn(sys.executable, "app", 1, ())
    deployment = (ROOT / "docs" / "deployment.md").read_text()
    for spec in TARGETS.values():
        if spec.asgi_app is None:
            continue  # the raw server and the storage-only peer: no Django socket
        argv = spec.server_argv(sys.executable, 1)
        if spec.server == "granian":
            assert "granian has no option to cap a WebSocket frame" in " ".join(deployment.split())
        else:
            assert "--ws-max-size=65536" in argv, spec.name
    assert deployment.count("--ws-max-size 65536") >= 2  # uvicorn, and the gunicorn worker
    assert "--ws-max-size" in (ROOT / "docs" / "protocol.md").read_text()


# --- 8. the production settings ------------------------------------------------------


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT / "demo",
        env={**env, "PYTHONPATH": str(ROOT / "demo")},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def production_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "LIVEBELL_"))}
    env.pop("DATABASE_URL", None)
    return {
        **env,
        "DJANGO_SETTINGS_MODULE": "demo.settings_production",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "notifications.example.com",
        "REDIS_URL": "redis://127.0.0.1:6379",
        **extra,
    }


def test_check_deploy_is_clean_for_the_production_settings() -> None:
    done = manage("check", "--deploy", "--fail-level", "DEBUG", env=production_env())
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no issues" in done.stdout, done.stdout + done.stderr


def test_the_production_settings_refuse_to_run_without_a_secret_key() -> None:
    env = production_env()
    del env["DJANGO_SECRET_KEY"]
    done = manage("check", env=env)
    assert done.returncode != 0
    assert "DJANGO_SECRET_KEY" in done.stderr
