"""What every peer project's settings share: the bench's database in a schema of its own.

``DATABASE_URL`` and ``REDIS_URL`` come from the bench, as for livebell's run;
``DJANGO_SECRET_KEY`` too, so that sessions the bench writes are valid.
"""

from __future__ import annotations

import os
from typing import Any

import dj_database_url

__all__ = ["ALLOWED_HOSTS", "SECRET_KEY", "database", "redis_url"]

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "peer-not-secret")
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]


def database(schema: str) -> dict[str, Any]:
    """The bench's database, with every table of this project in ``schema``.

    The settings module names it again as ``BENCH_SCHEMA``, which the bench's
    fixtures create before migrating; PostgreSQL then finds and creates the
    project's tables there only.
    """
    config = dj_database_url.config(conn_max_age=60, conn_health_checks=True)
    config.setdefault("OPTIONS", {})["options"] = f"-c search_path={schema}"
    return config


def redis_url(db: int = 0) -> str:
    """The bench's private Redis, on database ``db``."""
    base = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0").rsplit("/", 1)[0]
    return f"{base}/{db}"
