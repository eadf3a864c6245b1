"""A health endpoint for load balancers and orchestrators: the database and the channel layer.

Mount it where the site's probes look::

    path("livebell/health/", livebell.health.health_view)

``GET`` answers 200 ``{"status": "ok", "database": "ok", "channel_layer": "ok"}``
when this process can query the database and send a message through the channel
layer to itself and receive it back; otherwise 503 with ``"status": "fail"`` and,
for each failed check, a short reason (the exception's class, never its message,
which may hold a host name or a password). Each check has a deadline of
``TIMEOUT_SECONDS``. It needs no login and tells nothing about users.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from typing import Any

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.db import connections
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from livebell.conf import livebell_settings

__all__ = ["TIMEOUT_SECONDS", "check_channel_layer", "check_database", "health_view"]

logger = logging.getLogger("livebell.health")

#: How long each check may take before it counts as failed.
TIMEOUT_SECONDS = 3.0


def _query() -> None:
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


async def check_database() -> None:
    """Run ``SELECT 1`` on the default database.

    Raises:
        Exception: whatever the database raised, or ``TimeoutError``.
    """
    async with asyncio.timeout(TIMEOUT_SECONDS):
        await database_sync_to_async(_query)()


async def check_channel_layer() -> None:
    """Send a message through livebell's channel layer to a new channel and receive it.

    Raises:
        Exception: the layer is not configured, or failed, or ``TimeoutError``.
    """
    layer = get_channel_layer(livebell_settings.CHANNEL_LAYER)
    if layer is None:
        raise LookupError(f"no channel layer {livebell_settings.CHANNEL_LAYER!r}")
    async with asyncio.timeout(TIMEOUT_SECONDS):
        channel = await layer.new_channel("livebell.health.")
        token = uuid.uuid4().hex
        await layer.send(channel, {"type": "livebell.health", "token": token})
        message = await layer.receive(channel)
        await _release(layer, channel)
    if message.get("token") != token:
        raise ValueError("the channel layer returned another message")


async def _release(layer: Any, channel: str) -> None:
    """Let the layer forget ``channel``: a receive on it, cancelled.

    Channels has no call that ends a channel; a layer cleans one up when a receive on
    it is cancelled, as Channels cancels a consumer's when the consumer ends.
    channels_redis's pub/sub layer unsubscribes only then: without this, every check
    would leave a Redis subscription and a queue behind in the process.
    """
    waiting = asyncio.ensure_future(layer.receive(channel))
    await asyncio.sleep(0)  # a receive cancelled before it starts cleans up nothing
    waiting.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await waiting


@never_cache
@require_GET
async def health_view(request: HttpRequest) -> JsonResponse:
    """200 when the database and the channel layer answer, else 503 saying which did not."""
    body: dict[str, str] = {}
    failed = False
    for name, check in (("database", check_database), ("channel_layer", check_channel_layer)):
        try:
            await check()
        except Exception as exc:
            failed = True
            body[name] = f"fail: {type(exc).__name__}"
            logger.warning(
                "livebell: health check failed check=%s error=%s",
                name,
                type(exc).__name__,
                extra={"event": "health.failed", "check": name},
            )
        else:
            body[name] = "ok"
    status = {"status": "fail" if failed else "ok"}
    return JsonResponse({**status, **body}, status=503 if failed else 200)
