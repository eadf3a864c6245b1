"""The raw ceiling: a picows WebSocket server fanning out from Redis pub/sub, no Django.

``python -m bench.raw_server --port P`` (with ``REDIS_URL`` set). A socket at
``ws://127.0.0.1:P/?u=<user id>`` is that user's (no authentication: this is the
floor of the cost, not a design to copy). A message published on
``bench.all`` goes to every socket, one on ``bench.user.<id>`` to that user's
sockets, as the text frame it is. A message on ``bench.all`` with a ``"burst": K``
key makes the server send K frames to every socket at once, to find the client's
own ceiling.
"""

from __future__ import annotations

import argparse
import os
from urllib.parse import parse_qs, urlsplit

import orjson
import redis.asyncio
import uvloop
from picows import (
    WSCloseCode,
    WSFrame,
    WSListener,
    WSMsgType,
    WSTransport,
    WSUpgradeRequest,
    ws_create_server,
)

from bench.procs import LOOPBACK

__all__ = ["BROADCAST_CHANNEL", "Hub", "main", "user_channel"]

BROADCAST_CHANNEL = "bench.all"
USER_PREFIX = "bench.user."


def user_channel(user_id: object) -> str:
    """The Redis channel that reaches one user's sockets."""
    return f"{USER_PREFIX}{user_id}"


class Hub:
    """Open sockets, all of them and by user; fans a message out to the right ones."""

    def __init__(self) -> None:
        self.everyone: set[WSTransport] = set()
        self.by_user: dict[str, set[WSTransport]] = {}

    def add(self, user: str, transport: WSTransport) -> None:
        self.everyone.add(transport)
        self.by_user.setdefault(user, set()).add(transport)

    def remove(self, user: str, transport: WSTransport) -> None:
        self.everyone.discard(transport)
        sockets = self.by_user.get(user)
        if sockets is not None:
            sockets.discard(transport)
            if not sockets:
                del self.by_user[user]

    def publish(self, channel: str, data: bytes) -> None:
        if channel == BROADCAST_CHANNEL:
            if b'"burst"' in data:
                self.burst(data)
                return
            targets = self.everyone
        else:
            targets = self.by_user.get(channel.removeprefix(USER_PREFIX), set())
        for transport in targets:
            transport.send(WSMsgType.TEXT, data)

    def burst(self, data: bytes) -> None:
        """Write K text frames to every socket in ONE write each, so the client is the limit.

        (K ``transport.send()`` calls would cost K system calls per socket and make
        this server, not the client, the bottleneck.)
        """
        message = orjson.loads(data)
        payload = orjson.dumps({"p": message["p"], "t": message["t"]})
        if len(payload) > 125:
            raise ValueError("burst frames use the one-byte length form")
        # A server frame: FIN + text opcode, unmasked 7-bit length, payload (RFC 6455 §5.2).
        frames = (bytes((0x81, len(payload))) + payload) * int(message["burst"])
        for transport in self.everyone:
            transport.underlying_transport.write(frames)


class RawListener(WSListener):
    """One socket: joins the hub when open, leaves it when closed."""

    def __init__(self, hub: Hub, user: str) -> None:
        self.hub = hub
        self.user = user

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.hub.add(self.user, transport)

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self.hub.remove(self.user, transport)

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == WSMsgType.CLOSE:
            transport.send_close(WSCloseCode.OK)
            transport.disconnect()


async def _listen(hub: Hub, url: str) -> None:
    client = redis.asyncio.Redis.from_url(url)
    pubsub = client.pubsub()
    await pubsub.subscribe(BROADCAST_CHANNEL)
    await pubsub.psubscribe(USER_PREFIX + "*")
    async for message in pubsub.listen():
        if message["type"] in ("message", "pmessage"):
            hub.publish(message["channel"].decode(), message["data"])


async def serve(port: int, redis_url: str) -> None:
    hub = Hub()

    def listener_for(request: WSUpgradeRequest) -> WSListener | None:
        query = parse_qs(urlsplit(request.path.decode()).query)
        users = query.get("u")
        return RawListener(hub, users[0]) if users else None

    server = await ws_create_server(listener_for, LOOPBACK, port, max_frame_size=65536)
    async with server:
        await _listen(hub, redis_url)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    uvloop.run(serve(args.port, os.environ["REDIS_URL"]))


if __name__ == "__main__":
    main()
