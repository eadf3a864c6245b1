"""Storm control on a real server: 200 notifications to one user in 2 s reach the socket
as a few frames, and every one of them is stored and listed."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
import websockets
from asgiref.sync import sync_to_async
from websockets.asyncio.client import connect

from livebell import anotify
from tests.conftest import asession_cookie

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]


async def test_a_storm_reaches_the_socket_as_a_few_frames_and_nothing_is_lost(
    live_server_url: str, amake_user: Any, rest_client: Any, settings: Any
) -> None:
    settings.LIVEBELL = {}  # the defaults: more than 10 in 10 s is a burst
    bob, alice = await amake_user("bob"), await amake_user("alice")
    cookie = await asession_cookie(bob)
    url = live_server_url.replace("http://", "ws://") + "/ws/notifications/"
    frames: list[dict[str, Any]] = []
    async with connect(url, additional_headers={"Origin": live_server_url, "Cookie": cookie}) as ws:
        assert json.loads(await asyncio.wait_for(ws.recv(), 3))["type"] == "synced"

        async def read() -> None:
            try:
                async for raw in ws:
                    frames.append(json.loads(raw))
            except websockets.ConnectionClosed:
                pass

        reader = asyncio.create_task(read())
        started = time.monotonic()
        ids = []
        for i in range(200):  # an outage's alerts: 200 in 2 s
            [row] = await anotify(bob, f"alert {i}", actor=alice, level="error")
            ids.append(row.pk)
            await asyncio.sleep(max(0.0, started + (i + 1) * 0.01 - time.monotonic()))
        await asyncio.sleep(2.5)  # the burst's summary comes after 1 s of quiet
        reader.cancel()

    notifications = [f for f in frames if f["type"] == "notification"]
    bursts = [f for f in frames if f["type"] == "burst"]
    # The first 10 (the threshold) as themselves, then one summary per 5 s at most.
    assert len(notifications) == 10, len(notifications)
    assert 1 <= len(bursts) <= 2 and len(frames) <= 13, [f["type"] for f in frames]
    assert sum(b["count"] for b in bursts) == 190
    assert bursts[-1]["last_id"] == ids[-1] and bursts[-1]["unread_count"] == 200

    # Nothing lost: the list has all 200.
    def listed() -> list[int]:
        client = rest_client(bob)
        page = client.get("/api/notifications/", {"page_size": 100}).json()
        second = client.get(page["next"]).json()
        return [n["id"] for n in page["results"] + second["results"]]

    assert sorted(await sync_to_async(listed)()) == ids
