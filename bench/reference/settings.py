"""Settings of the reference project: only what the tutorial's socket needs.

``DATABASE_URL`` and ``REDIS_URL`` come from the bench (the same database and
Redis as livebell's run, so one session cookie logs a user in on both).
``BENCH_CHANNEL_LAYER`` picks ``pubsub`` (``RedisPubSubChannelLayer``, the
default) or ``core`` (``RedisChannelLayer``), both with the tutorial's defaults.
"""

import os

import dj_database_url

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "reference-not-secret")
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "channels",
]
MIDDLEWARE: list[str] = []
ROOT_URLCONF = "bench.reference.urls"
ASGI_APPLICATION = "bench.reference.asgi.application"

DATABASES = {"default": dj_database_url.config(conn_max_age=60, conn_health_checks=True)}

_LAYERS = {
    "pubsub": "channels_redis.pubsub.RedisPubSubChannelLayer",
    "core": "channels_redis.core.RedisChannelLayer",
}
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": _LAYERS[os.environ.get("BENCH_CHANNEL_LAYER", "pubsub")],
        # No read timeout: redis-py 8's default (5 s) fails RedisChannelLayer's idle
        # blocking receives (see livebell's system check livebell.W001).
        "CONFIG": {
            "hosts": [
                {
                    "address": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379"),
                    "socket_timeout": None,
                }
            ]
        },
    }
}

USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
