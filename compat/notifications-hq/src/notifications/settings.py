"""hq's settings: ``DJANGO_NOTIFICATIONS_CONFIG``, read at each call (so
``override_settings`` works), merged over the defaults."""

from __future__ import annotations

from typing import Any

from django.conf import settings

__all__ = ["CONFIG_DEFAULTS", "get_config"]

CONFIG_DEFAULTS: dict[str, Any] = {
    "PAGINATE_BY": 20,
    "USE_JSONFIELD": False,
    "SOFT_DELETE": False,
    "NUM_TO_FETCH": 10,
    "CACHE_TIMEOUT": 2,
}


def get_config() -> dict[str, Any]:
    config = CONFIG_DEFAULTS.copy()
    config.update(getattr(settings, "DJANGO_NOTIFICATIONS_CONFIG", {}))
    return config
