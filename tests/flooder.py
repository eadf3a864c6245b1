"""A flooding client in its own process:
``python -m tests.flooder URL ORIGIN COOKIE SECONDS RECONNECT``.

Sends pings as fast as the socket takes them for SECONDS; with RECONNECT ``1`` it
reconnects at once whenever the server closes it. Prints
``{"frames": N, "closes": [codes]}`` as its last line.
Its own process, so that the test's clients measure the server, not this loop.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

import websockets
from websockets.asyncio.client import connect


async def flood(
    url: str, origin: str, cookie: str, seconds: float, reconnect: bool
) -> dict[str, object]:
    frames, closes = 0, []
    deadline = time.monotonic() + seconds
    headers = {"Origin": origin, "Cookie": cookie}
    while time.monotonic() < deadline and (reconnect or not closes):
        async with connect(url, additional_headers=headers, max_queue=None) as ws:
            try:
                while time.monotonic() < deadline:
                    await ws.send('{"type": "ping"}')
                    frames += 1
                    if frames % 100 == 0:
                        await asyncio.sleep(0)  # let the library read (and see a close)
            except websockets.ConnectionClosed:
                pass
        closes.append(ws.close_code)
    return {"frames": frames, "closes": closes}


if __name__ == "__main__":
    url, origin, cookie, seconds, reconnect = sys.argv[1:6]
    print(json.dumps(asyncio.run(flood(url, origin, cookie, float(seconds), reconnect == "1"))))
