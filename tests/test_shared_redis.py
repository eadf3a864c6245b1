"""Two sites on one Redis server keep their notifications apart.

Site A is the test process (its database, a ``SECRET_KEY`` of its own) and a
uvicorn serving it; site B is another uvicorn with another database and another
``SECRET_KEY`` (tests/second_site.py). Both use the shared Redis, each with its
own database number, which Redis pub/sub ignores, and the same user id. Before
0.2.0 every site's groups were named ``livebell.user.<id>``: user 1 of B saw user
1 of A's notification, and that foreign id (higher than B's) then made B's socket
drop B's next notification as a duplicate.
"""

from __future__ import annotations

import asyncio
import json
import urllib.request
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

import pytest
from asgiref.sync import sync_to_async
from websockets.asyncio.client import connect

from livebell import anotify
from tests.conftest import REDIS_URL, RUN_PREFIX, session_cookie
from tests.processes import AsgiServer, eventually
from tests.second_site import SecondSite

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(180),
    pytest.mark.usefixtures("redis_required"),
]

# Derived from the run's prefix: runs sharing the Redis never share a site.
SECRET_A = f"{RUN_PREFIX}-site-a-not-secret"
SECRET_B = f"{RUN_PREFIX}-site-b-not-secret"
METRICS_TOKEN = "shared-redis-metrics"
# Nothing may arrive from the other site for this long after it reached its own socket.
QUIET_SECONDS = 2.0


def layer(database: int) -> dict[str, Any]:
    """The pub/sub layer on the shared Redis server, on database ``database``."""
    url = urlsplit(REDIS_URL)._replace(path=f"/{database}").geturl()
    return {
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {"hosts": [url], "prefix": RUN_PREFIX},
    }


@pytest.fixture(scope="module")
def site_b(
    tmp_path_factory: pytest.TempPathFactory, django_db_setup: None, django_db_blocker: Any
) -> Iterator[SecondSite]:
    """Site B's database, migrated once for the module."""
    site = SecondSite("site_b", tmp_path_factory.mktemp("site_b"), SECRET_B)
    with django_db_blocker.unblock():
        site.create()
    yield site
    with django_db_blocker.unblock():
        site.drop()


class Socket:
    """A client's notification socket: every frame after ``synced``, in order."""

    def __init__(self, socket: Any) -> None:
        self.socket = socket
        self.frames: list[dict[str, Any]] = []

    def ids(self) -> list[int]:
        return [f["notification"]["id"] for f in self.frames if f["type"] == "notification"]

    async def read(self) -> None:
        async for raw in self.socket:
            self.frames.append(json.loads(raw))


@asynccontextmanager
async def socket_on(server: AsgiServer, cookie: str) -> AsyncIterator[Socket]:
    async with connect(
        server.url, additional_headers={"Origin": server.origin, "Cookie": cookie}
    ) as ws:
        synced = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert synced["type"] == "synced", synced
        socket = Socket(ws)
        reader = asyncio.create_task(socket.read())
        try:
            yield socket
        finally:
            reader.cancel()


def ignored_other_site(server: AsgiServer) -> float:
    """The server's ``livebell_layer_messages_ignored_total{reason="other_site"}``."""
    request = urllib.request.Request(
        server.http + "/livebell/metrics/",
        headers={"Authorization": f"Bearer {METRICS_TOKEN}"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        text = response.read().decode()
    for line in text.splitlines():
        if line.startswith('livebell_layer_messages_ignored_total{reason="other_site"}'):
            return float(line.split()[-1])
    return 0.0


async def two_sites_one_user(
    settings: Any, make_user: Any, site_b: SecondSite, livebell: dict[str, Any]
) -> tuple[int, int]:
    """Notify user N on A, then on B, each with a socket open on both sites.

    Returns A's id and B's (lower) id, once each has arrived on its own site's
    socket and B's socket has had ``QUIET_SECONDS`` to receive A's.
    """
    settings.SECRET_KEY = SECRET_A
    settings.CHANNEL_LAYERS = {"default": layer(1)}
    settings.LIVEBELL = {**settings.LIVEBELL, **livebell}
    livebell = {**livebell, "METRICS_TOKEN": METRICS_TOKEN}
    bob = await sync_to_async(make_user)("bob")
    filler = await sync_to_async(make_user)("filler")
    # B's next id is low (a fresh database); A's is made higher than it, for bob's
    # first notification on A (its previous id 0 matches any socket's last id).
    while (await anotify(filler, "raise the ids"))[0].pk < 20:
        pass
    cookie_b = await sync_to_async(site_b.run)(
        ["-m", "tests.second_site", "user", str(bob.pk)], layer(2), livebell
    )
    server_a = AsgiServer(layer(1), livebell=livebell, env={"LIVEBELL_TEST_SECRET_KEY": SECRET_A})
    server_b = AsgiServer(layer(2), livebell=livebell, env=site_b.env())
    try:
        async with (
            socket_on(server_a, await sync_to_async(session_cookie)(bob)) as on_a,
            socket_on(server_b, cookie_b.strip()) as on_b,
        ):
            [from_a] = await anotify(bob, "from site A")
            await eventually(lambda: on_a.ids() == [from_a.pk], 10, "A's push on A's socket")
            await asyncio.sleep(QUIET_SECONDS)
            assert on_b.frames == []  # not shown, and (below) not taken for B's last id

            sent = await sync_to_async(site_b.run)(
                ["-m", "tests.second_site", "notify", str(bob.pk)], layer(2), livebell
            )
            from_b = json.loads(sent.strip().splitlines()[-1])
            assert from_b["push_failures"] == 0 and from_b["id"] < from_a.pk
            await eventually(lambda: on_b.ids() == [from_b["id"]], 10, "B's push on B's socket")
            assert on_a.ids() == [from_a.pk]
            ignored = await asyncio.to_thread(ignored_other_site, server_b)
    finally:
        server_a.kill()
        server_b.kill()
    return from_a.pk, int(ignored)


async def test_sites_with_their_own_secret_keys_share_no_group(
    settings: Any, make_user: Any, site_b: SecondSite
) -> None:
    _, ignored = await two_sites_one_user(settings, make_user, site_b, livebell={})
    # A's message never reached B's process: the sites' groups have different names.
    assert ignored == 0


async def test_sites_that_set_one_group_prefix_ignore_each_others_messages(
    settings: Any, make_user: Any, site_b: SecondSite
) -> None:
    shared = {"GROUP_PREFIX": f"{RUN_PREFIX}.shared"}
    _, ignored = await two_sites_one_user(settings, make_user, site_b, livebell=shared)
    # A's message did reach B's process (same group name), whose socket ignored it.
    assert ignored >= 1
