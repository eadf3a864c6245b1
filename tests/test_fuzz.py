"""Fuzzing a real server's socket with hypothesis: over 10,000 frames, bounded in time.

Frames are drawn from three families — well-formed frames with hostile values,
arbitrary JSON, and arbitrary text or bytes — and sent in batches over one socket
(the server's rate limit raised so that every frame is parsed). After each batch a
``ping`` must come back: every frame got its answer (or, for a change that changes
nothing, none), the socket is still open, and the server never logged a crash.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.adversary import CRASH_MARKERS, open_ws, until_synced
from tests.conftest import session_cookie
from tests.processes import AsgiServer

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.any_database,
    pytest.mark.timeout(300),
    # Batches are large: hypothesis warns before printing one.
    pytest.mark.filterwarnings("ignore:Generating overly large repr"),
]

BATCHES = 260
FRAMES_PER_BATCH = 40
ERROR_CODES = {"bad_json", "bad_frame", "unknown_type", "bad_last_id", "frame_too_large",
               "binary_not_supported", "rate_limited"}  # fmt: skip

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=20,
)
ids = st.one_of(
    st.integers(-(2**70), 2**70), st.text(max_size=30), st.floats(), json_values,
    st.lists(st.integers(-(2**64), 2**64), max_size=1001),  # the limit is 1,000 ids
    st.lists(st.one_of(st.integers(0, 10), json_values), max_size=10),
)  # fmt: skip
well_formed = st.fixed_dictionaries(
    {"type": st.sampled_from(["resume", "mark_read", "mark_unread", "mark_all_read", "ping"])},
    optional={"last_id": ids, "ids": ids, "before_id": ids, "extra": json_values},
).map(json.dumps)
frames = st.one_of(
    well_formed,
    json_values.map(json.dumps),
    st.text(max_size=200),
    st.binary(max_size=200),
    st.just("[" * 1000 + "]" * 1000),
    st.text(min_size=4000, max_size=5000),
).filter(lambda frame: len(frame if isinstance(frame, bytes) else frame.encode()) < 60_000)
# (Past --ws-max-size, 64 KiB, uvicorn closes the socket with 1009: tested elsewhere.)


@pytest.fixture
def server() -> Iterator[AsgiServer]:
    started = AsgiServer(
        {"BACKEND": "channels.layers.InMemoryChannelLayer"},
        livebell={
            "RATE_LIMIT_PER_SECOND": 100000,
            "RATE_LIMIT_BURST": 100000,
            "USER_RATE_LIMIT_PER_SECOND": 100000,
            "USER_RATE_LIMIT_BURST": 100000,
        },
        log_level="WARNING",
    )
    yield started
    started.kill()


def test_fuzzed_frames_never_crash_the_server(server: AsgiServer, make_user: Any) -> None:
    from livebell import notify

    bob = make_user("bob")
    for i in range(5):
        notify(bob, f"n{i}")
    cookie = session_cookie(bob)
    sent = 0
    state: dict[str, Any] = {}

    async def open_socket() -> Any:
        # A client that never stops reading (max_queue) and sends no keepalive pings of
        # its own (their payload comes from `random`, which hypothesis must own while it
        # draws a batch in the other thread); it answers the server's pings.
        ws = await open_ws(server, cookie, max_size=None, max_queue=None, ping_interval=None)
        state["ws"] = ws  # closed by shut_down() even if it never syncs
        await until_synced(ws)
        return ws

    async def send_batch(batch: list[str | bytes]) -> None:
        ws = state.get("ws") or await open_socket()
        for frame in batch:
            await ws.send(frame)
        await ws.send('{"type": "ping"}')
        while True:  # every answer, then the pong
            reply = json.loads(await asyncio.wait_for(ws.recv(), 10))
            if reply["type"] == "pong":
                break
            assert reply["type"] in {"error", "notification", "synced", "read", "unread"}, reply
            if reply["type"] == "error":
                assert reply["code"] in ERROR_CODES, reply

    async def shut_down(ws: Any) -> None:
        # Whatever happened, the client's socket and its keepalive task end here, in
        # their own loop: a socket left to the garbage collector is a ResourceWarning
        # that pytest turns into an error of a test that passed.
        if ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(), 5)
            ws.transport.abort()
        current = asyncio.current_task()
        pending = [task for task in asyncio.all_tasks() if task is not current]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    # One loop for the one socket, across examples, running in its own thread: the
    # client answers the server's keepalive pings while hypothesis draws the next batch.
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    def run(coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, loop).result(timeout=120)

    @settings(
        max_examples=BATCHES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(st.lists(frames, min_size=FRAMES_PER_BATCH, max_size=FRAMES_PER_BATCH))
    def fuzz(batch: list[str | bytes]) -> None:
        nonlocal sent
        run(send_batch(batch))
        sent += len(batch)

    try:
        fuzz()
    except Exception as exc:
        closed = getattr(state.get("ws"), "close_code", None)
        raise AssertionError(
            f"the socket failed (close code {closed}); the server said:\n{server.log()}"
        ) from exc
    finally:
        run(shut_down(state.get("ws")))
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
    assert sent >= 10_000, sent
    log = server.log()
    assert not any(marker in log for marker in CRASH_MARKERS), log
    assert server.alive()
    print(f"\n[measured] fuzz: {sent} frames in {BATCHES} batches, no crash")
