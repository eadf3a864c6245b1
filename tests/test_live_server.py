"""A real uvicorn on a free port, real WebSocket clients, real HTTP form posts."""

from __future__ import annotations

import asyncio
import json
import re
import urllib.parse
import urllib.request
from typing import Any

import pytest
import websockets
from asgiref.sync import sync_to_async
from websockets.asyncio.client import connect

from livebell.models import Notification
from tests.conftest import asession_cookie

pytestmark = [pytest.mark.django_db(transaction=True)]


def ws_url(http_url: str) -> str:
    return http_url.replace("http://", "ws://") + "/ws/notifications/"


async def test_form_post_reaches_the_recipients_open_socket(
    live_server_url: str, amake_user: Any
) -> None:
    bob, alice, carol = [await amake_user(name) for name in ("bob", "alice", "carol")]
    url = ws_url(live_server_url)

    def headers(cookie: str) -> dict[str, str]:
        return {"Origin": live_server_url, "Cookie": cookie}

    async with (
        connect(url, additional_headers=headers(await asession_cookie(bob))) as bob_ws,
        connect(url, additional_headers=headers(await asession_cookie(carol))) as carol_ws,
    ):
        for ws in (bob_ws, carol_ws):
            assert json.loads(await asyncio.wait_for(ws.recv(), 3))["type"] == "synced"
        alice_cookie = await asession_cookie(alice)
        await sync_to_async(post_send_form)(live_server_url, alice_cookie, bob.pk)

        frame = json.loads(await asyncio.wait_for(bob_ws.recv(), 3))
        assert frame["type"] == "notification"
        assert frame["notification"]["verb"] == "waved at you"
        assert frame["notification"]["actor"]["username"] == "alice"
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(carol_ws.recv(), 0.3)
    assert await Notification.objects.filter(recipient=bob).acount() == 1


def post_send_form(base: str, session_cookie: str, recipient_id: int) -> None:
    """GET the home page for a CSRF token and cookie, then POST the send form."""
    page = urllib.request.urlopen(
        urllib.request.Request(base + "/", headers={"Cookie": session_cookie})
    )
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.read().decode())
    csrf_cookie = re.search(r"csrftoken=[^;]+", page.headers["Set-Cookie"])
    assert token and csrf_cookie, "the home page gave no CSRF token"
    form = urllib.parse.urlencode(
        {
            "csrfmiddlewaretoken": token.group(1),
            "recipient": recipient_id,
            "verb": "waved at you",
            "level": "info",
        }
    ).encode()
    request = urllib.request.Request(
        base + "/send/",
        data=form,
        headers={"Cookie": f"{session_cookie}; {csrf_cookie.group(0)}", "Referer": base + "/"},
    )
    with urllib.request.urlopen(request) as response:  # follows the redirect home
        assert response.status == 200


async def test_anonymous_socket_closes_with_4401(live_server_url: str) -> None:
    async with connect(
        ws_url(live_server_url), additional_headers={"Origin": live_server_url}
    ) as ws:
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 3)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401


async def test_cross_origin_handshake_is_refused(live_server_url: str, amake_user: Any) -> None:
    cookie = await asession_cookie(await amake_user("bob"))
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with connect(
            ws_url(live_server_url),
            additional_headers={"Origin": "http://evil.example", "Cookie": cookie},
        ):
            pass
    assert refused.value.response.status_code == 403


async def test_ping_and_bad_json_over_the_wire(live_server_url: str, amake_user: Any) -> None:
    cookie = await asession_cookie(await amake_user("bob"))
    async with connect(
        ws_url(live_server_url), additional_headers={"Origin": live_server_url, "Cookie": cookie}
    ) as ws:
        assert json.loads(await asyncio.wait_for(ws.recv(), 3))["type"] == "synced"
        await ws.send("{oops")
        assert json.loads(await asyncio.wait_for(ws.recv(), 3))["code"] == "bad_json"
        await ws.send(json.dumps({"type": "ping"}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 3)) == {"type": "pong"}
