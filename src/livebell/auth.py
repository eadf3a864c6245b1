"""When a connection's session ends, and closing the connections it served.

Who a connection is for — a session, or a ticket — is :mod:`livebell.live.credentials`'
to say; the names it had here (:func:`session_user`, :func:`ascope_user`,
:func:`acheck_session` …) are that module's, imported here for the code that
used them from this one.

**A socket lives no longer than its session.** When a session can end, its
sockets are told through the channel layer, on every server process:

- logout (Django's ``user_logged_out`` signal) sends
  :class:`~livebell.layer.messages.SessionEnded` with a hash of the session key; the
  sockets of that session close with 4401 at once;
- saving a user's password or ``is_active``, or deleting the user, sends
  :class:`~livebell.layer.messages.RecheckSessions` after commit; every socket of the
  user checks its session again and closes with 4401 if it is no longer valid —
  or with 4001 ("reconnect") if its session key names no session any more,
  because a re-keyed session (``cycle_key()``: Django's password change keeps the
  changer logged in that way) lives on under a new key that only the browser
  has; a reconnect with it either works or is refused with 4401;
- a change that sends no signal (a bulk ``update()`` of the users) is followed by
  :func:`end_sessions`, which sends the same message for many users;
- besides, every socket checks its session every ``SESSION_CHECK_SECONDS``
  (and when a database-backed session expires), which catches what no signal
  tells (sessions deleted with a query, ``clearsessions``).

A socket opened with a ticket (:mod:`livebell.live.tickets`) asked for with a REST
token lives no longer than the token: deleting it sends
:class:`~livebell.layer.messages.RecheckSessions` too, and the socket's check is then
that the token still exists for an active user.

What is said here of sockets holds for event streams (:mod:`livebell.live.stream`) too.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

from django.contrib.auth import get_user_model
from django.db import router, transaction

from livebell.layer import delivery
from livebell.layer.groups import user_group
from livebell.layer.messages import RecheckSessions, SessionEnded
from livebell.live import tickets
from livebell.live.credentials import (
    SessionCheck,
    _resolve,  # noqa: F401  (the batched lookups, as tests reach them)
    _users,  # noqa: F401
    acheck_session,
    acheck_token,
    ascope_login,
    ascope_user,
    session_user,
)

__all__ = [
    "SessionCheck",
    "acheck_session",
    "acheck_token",
    "aend_sessions",
    "ascope_login",
    "ascope_user",
    "end_sessions",
    "session_hash",
    "session_user",
]


def session_hash(session_key: str | None) -> str:
    """A digest of a session key that can travel over the channel layer (not the key)."""
    return hashlib.sha256(f"livebell.session:{session_key}".encode()).hexdigest()[:32]


# Signal receivers, connected by livebell's AppConfig.


def on_logout(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    """``user_logged_out``: close the sockets of the session being logged out.

    Sent before the logout flushes the session, and synchronously, so that
    anything pushed after the logout returns reaches those sockets after it.
    """
    session = getattr(request, "session", None)
    if user is None or session is None or not session.session_key:
        return
    tickets.revoke_session(user.pk, session.session_key)
    delivery.send([SessionEnded(user_group(user.pk), session_hash(session.session_key))])


# Saving only these fields cannot end a session (login saves last_login).
_HARMLESS_FIELDS = frozenset({"last_login"})


def on_user_saved(
    sender: Any, instance: Any, created: bool, update_fields: Any = None, **kwargs: Any
) -> None:
    """``post_save`` of the user model: have the user's sockets recheck their sessions.

    A password change, deactivation or any other full save; not a save of
    ``last_login`` alone, nor a new user (who has no socket yet).
    """
    if created or (update_fields is not None and set(update_fields) <= _HARMLESS_FIELDS):
        return
    _recheck_after_commit(sender, instance.pk, kwargs.get("using"))


def on_user_deleted(sender: Any, instance: Any, **kwargs: Any) -> None:
    """``post_delete`` of the user model: the user's sockets close (their check fails)."""
    _recheck_after_commit(sender, instance.pk, kwargs.get("using"))


def on_token_deleted(sender: Any, instance: Any, **kwargs: Any) -> None:
    """``post_delete`` of a REST token: sockets opened with a ticket it asked for close."""
    _recheck_after_commit(sender, instance.user_id, kwargs.get("using"))


def end_sessions(user_ids: Iterable[Any], *, using: str | None = None) -> None:
    """Close the sockets of these users whose sessions are no longer valid, at once.

    Call it after a change that sends no signal: a bulk
    ``User.objects.filter(…).update(is_active=False)`` (or of the password), or
    sessions deleted with a query. Every socket of the users, on every server
    process, checks its session (or token) again, as after saving each user, and
    closes with 4401 if it is no longer its user's, or with 4001 if its session key
    names no session any more. Sockets whose sessions are still valid stay open.
    Sent when the transaction on ``using`` commits (at once outside one).

    Args:
        user_ids: primary keys of the users.
        using: the database alias of the transaction that made the change
            (default: the user model's database for writes).
    """
    messages = [RecheckSessions(user_group(user_id)) for user_id in dict.fromkeys(user_ids)]
    if not messages:
        return
    transaction.on_commit(
        lambda: delivery.send(messages),
        using=using or router.db_for_write(get_user_model()),
        robust=True,
    )


async def aend_sessions(user_ids: Iterable[Any]) -> None:
    """:func:`end_sessions` from the event loop (sent at once: call it after the change
    has committed)."""
    await delivery.asend(
        [RecheckSessions(user_group(user_id)) for user_id in dict.fromkeys(user_ids)]
    )


def _recheck_after_commit(model: Any, user_id: Any, using: str | None) -> None:
    message = RecheckSessions(user_group(user_id))
    transaction.on_commit(
        lambda: delivery.send([message]),
        using=using or router.db_for_write(model),
        robust=True,
    )
