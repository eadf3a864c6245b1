"""Who a socket belongs to, and when that ends.

**On connect** the socket reads its user from the Django session in its scope
(behind Channels' ``SessionMiddlewareStack``; behind ``AuthMiddlewareStack`` the
user is already there). The check is Django's own — the backend must still be
configured and return the user, and the session's auth hash must match the
user's (so a password change logs sessions out), also under a fallback secret —
but it never writes to the session: a socket must not re-key or flush the
session that the user's browser goes on using over HTTP.

**A socket lives no longer than its session.** When a session can end, its
sockets are told through the channel layer, on every server process:

- logout (Django's ``user_logged_out`` signal) sends
  :class:`~livebell.messages.SessionEnded` with a hash of the session key; the
  sockets of that session close with 4401 at once;
- saving a user's password or ``is_active``, or deleting the user, sends
  :class:`~livebell.messages.RecheckSessions` after commit; every socket of the
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

A socket opened with a ticket (:mod:`livebell.tickets`) asked for with a REST
token lives no longer than the token: deleting it sends
:class:`~livebell.messages.RecheckSessions` too, and the socket's check is then
that the token still exists for an active user.

Checks of sockets that connect or recheck at the same moment share one trip to
Channels' database thread.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from importlib import import_module
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings
from django.contrib.auth import (
    BACKEND_SESSION_KEY,
    HASH_SESSION_KEY,
    SESSION_KEY,
    get_user_model,
    load_backend,
)
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ValidationError
from django.db import router, transaction
from django.utils import timezone
from django.utils.crypto import constant_time_compare

from livebell import delivery
from livebell._coalescer import Coalescer
from livebell.groups import user_group
from livebell.messages import RecheckSessions, SessionEnded

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

# Connects (or rechecks) per batch: each loads its session and its user.
MAX_BATCH = 100


def session_hash(session_key: str | None) -> str:
    """A digest of a session key that can travel over the channel layer (not the key)."""
    return hashlib.sha256(f"livebell.session:{session_key}".encode()).hexdigest()[:32]


def session_user(session: Any) -> Any:
    """The user logged in to ``session``, or ``AnonymousUser``, without changing the session.

    The checks of ``django.contrib.auth.get_user``: a configured backend that still
    returns the user, and a session auth hash that matches the user's under
    ``SECRET_KEY`` or one of ``SECRET_KEY_FALLBACKS``. Unlike ``get_user``, a
    mismatch does not flush the session and a fallback match does not re-key it:
    the browser's next HTTP request does that.
    """
    return _users([session])[0]


def _users(sessions: Sequence[Any]) -> list[Any]:
    """:func:`session_user` of each session, in two queries for a batch of database
    sessions whose users the ``ModelBackend`` loads (one per session otherwise)."""
    return [user for user, _ in _logins(sessions)]


def _logins(sessions: Sequence[Any]) -> list[tuple[Any, datetime | None]]:
    """Each session's user (as :func:`_users`) and when the session expires.

    The expiry is the database row's ``expire_date`` for a database session loaded
    here; otherwise what the session's data tells (``get_expiry_date()``), or None
    for a session engine without expiry dates.
    """
    expiries = _load_sessions(sessions)
    claims = [_claim(session) for session in sessions]
    users = _claimed_users([claim for claim in claims if claim is not None])
    found = []
    for session, claim in zip(sessions, claims, strict=True):
        user = None if claim is None else users.get((claim[1], claim[0]))
        key = getattr(session, "session_key", None)
        expires = expiries.get(key) if key else None
        found.append((_verified(session, user), expires or _data_expiry(session)))
    return found


def _data_expiry(session: Any) -> datetime | None:
    """When ``session`` expires, as far as its data tells (no query)."""
    try:
        expiry: datetime = session.get_expiry_date()
    except Exception:  # a session engine without expiry dates
        return None
    return expiry


def _load_sessions(sessions: Sequence[Any]) -> dict[str, datetime]:
    """Load the database sessions not loaded yet, in one query; the ``expire_date``
    of each row found, expired ones included.

    Does what the ``db`` and ``cached_db`` engines' ``load()`` does (an unexpired
    row's decoded data, or an empty session without a key), for all at once.
    """
    from django.contrib.sessions.backends.db import SessionStore as DatabaseStore

    waiting: dict[str, list[Any]] = {}
    for session in sessions:
        key = getattr(session, "session_key", None)
        if isinstance(session, DatabaseStore) and key and not hasattr(session, "_session_cache"):
            waiting.setdefault(key, []).append(session)
    if not waiting:
        return {}
    model = next(iter(waiting.values()))[0].model
    rows = model.objects.filter(session_key__in=list(waiting)).values_list(
        "session_key", "session_data", "expire_date"
    )
    now = timezone.now()
    expiries = {}
    for key, data, expires in rows:
        expiries[key] = expires
        if expires <= now:
            continue  # expired: loaded as missing, below, as load() does
        for session in waiting.pop(key):
            session._session_cache = session.decode(data)
    for missing in waiting.values():  # expired, deleted, or never there
        for session in missing:
            session._session_key = None
            session._session_cache = {}
    return expiries


def _claim(session: Any) -> tuple[Any, str] | None:
    """The user id and backend a session names, if the backend is still configured."""
    try:
        user_id = get_user_model()._meta.pk.to_python(session[SESSION_KEY])
        backend_path = session[BACKEND_SESSION_KEY]
    except (KeyError, ValidationError):
        return None
    if backend_path not in settings.AUTHENTICATION_BACKENDS:
        return None
    return user_id, backend_path


def _claimed_users(claims: Sequence[tuple[Any, str]]) -> dict[tuple[str, Any], Any]:
    """The users the claims name, by (backend, id): one query for the ``ModelBackend``'s."""
    users: dict[tuple[str, Any], Any] = {}
    for backend_path in {path for _, path in claims}:
        backend = load_backend(backend_path)
        ids = list({user_id for user_id, path in claims if path == backend_path})
        if isinstance(backend, ModelBackend) and type(backend).get_user is ModelBackend.get_user:
            # ModelBackend.get_user, for many users at once.
            model = get_user_model()
            for user in model._default_manager.filter(pk__in=ids):
                if backend.user_can_authenticate(user):
                    users[(backend_path, user.pk)] = user
        else:
            for user_id in ids:
                found = backend.get_user(user_id)
                if found is not None:
                    users[(backend_path, user_id)] = found
    return users


def _verified(session: Any, user: Any) -> Any:
    """``user`` if the session's auth hash is still theirs, else ``AnonymousUser``."""
    if user is None:
        return AnonymousUser()
    if hasattr(user, "get_session_auth_hash"):
        stored = session.get(HASH_SESSION_KEY)
        if not stored:
            return AnonymousUser()
        if not constant_time_compare(stored, user.get_session_auth_hash()) and not any(
            constant_time_compare(stored, fallback)
            for fallback in user.get_session_auth_fallback_hash()
        ):
            return AnonymousUser()
    return user


_resolve: Coalescer[Any, tuple[Any, datetime | None]] = Coalescer(_logins, max_batch=MAX_BATCH)


async def ascope_user(scope: dict[str, Any]) -> Any:
    """The user of the scope's session (``AnonymousUser`` if none); needs ``scope["session"]``.

    Raises:
        ValueError: the scope has no session (the socket is not behind
            ``SessionMiddlewareStack`` or ``AuthMiddlewareStack``).
    """
    user, _ = await ascope_login(scope)
    return user


async def ascope_login(scope: dict[str, Any]) -> tuple[Any, datetime | None]:
    """:func:`ascope_user`, and when the scope's session expires (None: unknown).

    For a database session, the expiry is its row's ``expire_date``; for other
    engines, what the session's data tells (``get_expiry_date()``).

    Raises:
        ValueError: the scope has no session (see :func:`ascope_user`).
    """
    if "session" not in scope:
        raise ValueError(
            "livebell's socket needs the session in its scope: wrap it in "
            "channels.sessions.SessionMiddlewareStack (or AuthMiddlewareStack)."
        )
    return await _resolve(scope["session"])


@dataclass(frozen=True, slots=True)
class SessionCheck:
    """Whether a socket's session still belongs to its user, and until when."""

    valid: bool
    #: False when the session key names no session any more: it was flushed, or
    #: re-keyed (``cycle_key()``, as a password change does for the changer's own
    #: session), in which case the browser has a new cookie.
    exists: bool
    #: When a database-backed session expires (None for other session engines).
    expires_at: datetime | None


def _check_sessions(requests: Sequence[tuple[str | None, Any]]) -> list[SessionCheck]:
    engine = import_module(settings.SESSION_ENGINE)
    # Fresh stores: the scope's copies were loaded when the sockets connected.
    stores = [engine.SessionStore(key) if key else None for key, _ in requests]
    present = [store for store in stores if store is not None]
    expiries = _load_sessions(present)
    users = iter(_users(present))
    checks = []
    for store, (session_key, user_id) in zip(stores, requests, strict=True):
        if store is None:
            checks.append(SessionCheck(valid=False, exists=False, expires_at=None))
            continue
        user = next(users)
        checks.append(
            SessionCheck(
                valid=bool(user.is_authenticated) and user.pk == user_id,
                # An expired row still names the session: it ended (4401), it was
                # not re-keyed (4001).
                exists=bool(list(store.keys())) or bool(session_key and session_key in expiries),
                expires_at=expiries.get(session_key) if session_key else None,
            )
        )
    return checks


_checks: Coalescer[tuple[str | None, Any], SessionCheck] = Coalescer(
    _check_sessions, max_batch=MAX_BATCH
)


async def acheck_session(session_key: str | None, user_id: Any) -> SessionCheck:
    """Check, from the event loop, that the session ``session_key`` is still ``user_id``'s."""
    return await _checks((session_key, user_id))


def _check_token(token_key: str, user_id: Any) -> SessionCheck:
    from livebell.tickets import credential_user

    user = credential_user(None, token_key)
    valid = bool(user.is_authenticated) and user.pk == user_id
    return SessionCheck(valid=valid, exists=valid, expires_at=None)


async def acheck_token(token_key: str, user_id: Any) -> SessionCheck:
    """Check, from the event loop, that the REST token ``token_key`` is still ``user_id``'s.

    A token that is gone ends the socket with 4401 (``exists`` is false only
    for sessions, whose browser may hold a new key).
    """
    check: SessionCheck = await database_sync_to_async(_check_token)(token_key, user_id)
    return SessionCheck(valid=check.valid, exists=True, expires_at=None)


# Signal receivers, connected by livebell's AppConfig.


def on_logout(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    """``user_logged_out``: close the sockets of the session being logged out.

    Sent before the logout flushes the session, and synchronously, so that
    anything pushed after the logout returns reaches those sockets after it.
    """
    session = getattr(request, "session", None)
    if user is None or session is None or not session.session_key:
        return
    from livebell.tickets import revoke_session

    revoke_session(user.pk, session.session_key)
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
