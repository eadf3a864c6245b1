"""The socket's user, read from its session, batched with concurrent connects.

Behind Channels' ``SessionMiddlewareStack`` the consumer resolves the user
itself, with Django's own ``django.contrib.auth.get_user`` (backend check,
session-hash verification with ``SECRET_KEY_FALLBACKS``), and every connect
waiting at that moment shares one trip to the database thread
(:mod:`livebell.batching`). Behind ``AuthMiddlewareStack`` the user is already
in the scope and this is not used.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.contrib import auth

from livebell.batching import Coalescer

__all__ = ["ascope_user"]

# Connects per batch: each loads its session and its user.
MAX_BATCH = 100


class _SessionOnly:
    """The part of an HttpRequest that ``django.contrib.auth.get_user`` reads."""

    def __init__(self, session: Any) -> None:
        self.session = session


def _users(sessions: Sequence[Any]) -> list[Any]:
    users = []
    for session in sessions:
        users.append(auth.get_user(_SessionOnly(session)))  # type: ignore[arg-type]
        if session.modified:  # re-keyed under a fallback secret: keep the new key
            session.save()
    return users


_resolve: Coalescer[Any, Any] = Coalescer(_users, max_batch=MAX_BATCH)


async def ascope_user(scope: dict[str, Any]) -> Any:
    """The user of the scope's session (``AnonymousUser`` if none); needs ``scope["session"]``."""
    if "session" not in scope:
        raise ValueError(
            "livebell's socket needs the session in its scope: wrap it in "
            "channels.sessions.SessionMiddlewareStack (or AuthMiddlewareStack)."
        )
    return await _resolve(scope["session"])
