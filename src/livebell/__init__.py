"""livebell: real-time in-app notifications for Django, built on Django Channels.

``notify``, ``anotify`` and ``notify_each`` are importable from here, but resolved lazily so that
``import livebell`` never touches Django's app registry (settings files and
``INSTALLED_APPS`` may import the package before apps are ready).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["__version__", "anotify", "notify", "notify_each"]

if TYPE_CHECKING:
    from livebell.sending import anotify, notify, notify_each


def __getattr__(name: str) -> Any:
    if name in ("notify", "anotify", "notify_each"):
        from livebell import sending

        return getattr(sending, name)
    raise AttributeError(f"module 'livebell' has no attribute {name!r}")
