"""The demo's settings as the bench serves livebell: storm control off, the bench's Redis,
no task worker.

The bench counts every frame of back-to-back broadcasts (W1 sends 20 in about a
second to each user), which livebell's storm control would sum up into a few
``burst`` frames by design (docs/types.md). Off, each notification is a frame, as
for the other targets.

The channel layer is the one docs/deployment.md recommends, on the Redis servers
the bench gives in ``BENCH_REDIS_URLS`` (comma-separated): one, or several that
channels-redis shards the layer's channels and groups over (its ``hosts``).
"""

import os

from demo.settings import *  # noqa: F403

LIVEBELL = {**globals().get("LIVEBELL", {}), "STORM_THRESHOLD": None}
# The demo's task worker (web pushes, the email sweep) polls the database every second
# and runs tasks: not beside the measurements (the tasks notify() enqueues stay queued).
DEMO_TASK_WORKER = False

_hosts = [url for url in os.environ.get("BENCH_REDIS_URLS", "").split(",") if url]
if _hosts:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": _hosts},
        }
    }
