"""django-notifications-hq 1.8.3's ``notifications`` package, backed by livebell.

Every module of hq's public API is here with hq's names: ``apps``, ``models``,
``base.models``, ``signals``, ``utils``, ``urls``, ``views``, ``helpers``,
``settings`` and ``templatetags.notifications_tags``. What they store is also
stored as livebell notifications (see :mod:`notifications.mirror`), so open tabs get
them at once.

``notifications.notify`` (hq kept it for old code) is resolved lazily here rather
than set on the package in ``AppConfig.ready()``.
"""

from __future__ import annotations

from typing import Any

#: The django-notifications-hq release whose API this package provides.
__version__ = "1.8.3"
__all__ = ["__version__", "default_app_config", "notify"]

# hq's; Django ignores it since 4.1 (the app's only AppConfig is its default).
default_app_config = "notifications.apps.Config"


def __getattr__(name: str) -> Any:
    if name == "notify":
        from notifications.signals import notify

        return notify
    raise AttributeError(f"module 'notifications' has no attribute {name!r}")
