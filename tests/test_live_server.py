"""A real uvicorn on a free port, real WebSocket clients, real HTTP form posts."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import websockets
from websockets.asyncio.client import connect

from tests.conftest import asession_cookie

pytestmark = [pytest.mark.django_db(transaction=True)]


def ws_url(http_url: str) -> str:
    return http_url.replace("http://", "ws://") + "/ws/notifications/"


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
