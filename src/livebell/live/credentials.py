"""Credentials → user: the one module that says who a connection is for.

A reader proves who they are with one of two credentials, on either transport
(the WebSocket, :mod:`livebell.live.websocket`, and the event stream,
:mod:`livebell.live.stream`):

- **the Django session** of the site's cookie. The check is Django's own — the
  backend must still be configured and return the user, and the session's auth
  hash must match the user's (so a password change logs sessions out), also under
  a fallback secret — but it never writes to the session: a connection must not
  re-key or flush the session that the user's browser goes on using over HTTP.
  A cookie is an ambient credential, so a page elsewhere could use it: the
  socket's handshake is checked by :class:`livebell.origin.OriginValidator`, the
  stream's request by :func:`livebell.origin.request_origin_allowed` (here, in
  :func:`authenticate_request`);
- **a socket ticket** (:mod:`livebell.live.tickets` stores them): redeeming one turns
  it into the user it was asked for, if the session or REST token it was asked
  with is still that user's. A ticket connection ignores cookies and skips the
  origin check (a page elsewhere cannot obtain a ticket).

Then, while the connection lives, :func:`acheck_session` and
:func:`acheck_token` say whether the credential is still its user's
(:mod:`livebell.auth` says when to ask).

Lookups of connections that arrive (or recheck) at the same moment share one
trip to Channels' database thread.
"""

from __future__ import annotations

from collections.abc import Sequence
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
from django.http import HttpRequest
from django.utils import timezone
from django.utils.crypto import constant_time_compare

from livebell import origin, protocol
from livebell._coalescer import Coalescer
from livebell.live import tickets

__all__ = [
    "Reader",
    "Redeemed",
    "SessionCheck",
    "acheck_session",
    "acheck_token",
    "aredeem",
    "ascope_login",
    "ascope_user",
    "authenticate",
    "authenticate_request",
    "cookie_session",
    "credential_user",
    "redeem",
    "session_user",
]

# Connects (or rechecks) per batch: each loads its session and its user.
MAX_BATCH = 100


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
    """The user of the scope's session (``AnonymousUser`` if none): ``scope["session"]``
    when a session middleware put one there, else the session the cookie names
    (:func:`cookie_session`)."""
    user, _ = await ascope_login(scope)
    return user


async def ascope_login(scope: dict[str, Any]) -> tuple[Any, datetime | None]:
    """:func:`ascope_user`, and when the scope's session expires (None: unknown).

    For a database session, the expiry is its row's ``expire_date``; for other
    engines, what the session's data tells (``get_expiry_date()``).
    """
    return await _resolve(_scope_session(scope))


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


def credential_user(session_key: str | None, token_key: str | None) -> Any:
    """The user that the session or the REST token stands for now (``AnonymousUser``
    if none)."""
    if session_key:
        store = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
        return session_user(store)
    if token_key:
        from rest_framework.authtoken.models import Token

        token = Token.objects.select_related("user").filter(key=token_key).first()
        if token is not None and token.user.is_active:
            return token.user
    return AnonymousUser()


# --- Tickets -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Redeemed:
    """What a valid ticket was for."""

    user: Any
    #: The session it was asked with, or None (a token).
    session_key: str | None
    #: The REST token it was asked with, or None (a session).
    token_key: str | None


def redeem(ticket: str) -> Redeemed | None:
    """Use ``ticket``: what it was for, or None if it is forged, expired, used or void
    (its session or token is no longer its user's)."""
    claim = tickets.take(ticket)
    if claim is None:
        return None
    user = credential_user(claim.session_key, claim.token_key)
    if not user.is_authenticated or user.pk != claim.user_id:
        return None
    return Redeemed(user, claim.session_key, claim.token_key)


async def aredeem(ticket: str) -> Redeemed | None:
    """:func:`redeem` from the event loop."""
    result: Redeemed | None = await database_sync_to_async(redeem)(ticket)
    return result


# --- A connection's reader -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Reader:
    """Who a connection is for, as its credentials tell: ``user`` None when nobody is
    logged in (``refusal`` says why: ``"unauthenticated"``, ``"bad_ticket"`` or, for
    a stream, ``"cross_site"``)."""

    user: Any
    session_key: str | None = None
    token_key: str | None = None
    expires_at: datetime | None = None
    refusal: str = "unauthenticated"

    @property
    def authenticated(self) -> bool:
        return self.user is not None and bool(self.user.is_authenticated)


async def _ticket_reader(ticket: str) -> Reader:
    redeemed = await aredeem(ticket)
    if redeemed is None:
        return Reader(None, refusal="bad_ticket")
    return Reader(redeemed.user, redeemed.session_key, redeemed.token_key)


async def authenticate(scope: dict[str, Any]) -> Reader:
    """The reader of a socket: the ticket's user (its cookies are then ignored), or
    the scope's user (behind Channels' ``AuthMiddlewareStack``), or the user of the
    session that the handshake's cookie names — the scope's own session when
    ``SessionMiddlewareStack`` put one there — looked up in batches with the sockets
    that connect at the same moment. The handshake's origin was checked by
    :class:`~livebell.origin.OriginValidator`."""
    ticket = protocol.handshake_ticket(scope)
    if ticket is not None:
        return await _ticket_reader(ticket)
    user = scope.get("user")
    if user is not None:  # behind AuthMiddlewareStack
        session = scope.get("session")
        expires_at = _data_expiry(session) if session is not None else None
        return Reader(user, getattr(session, "session_key", None), expires_at=expires_at)
    session = _scope_session(scope)
    user, expires_at = await _resolve(session)
    return Reader(user, session.session_key, expires_at=expires_at)


def _scope_session(scope: dict[str, Any]) -> Any:
    """The scope's session (behind a session middleware), else the cookie's."""
    session = scope.get("session")
    return session if session is not None else cookie_session(scope)


def cookie_session(scope: dict[str, Any]) -> Any:
    """The session that the connection's cookie names, not loaded yet: what Django's
    ``SessionMiddleware`` (and Channels') would give a request with these headers.

    livebell reads it itself, so the socket needs no session middleware around it;
    an unknown or missing key gives an empty session (an anonymous reader).
    """
    key = protocol.handshake_cookies(scope).get(settings.SESSION_COOKIE_NAME)
    return import_module(settings.SESSION_ENGINE).SessionStore(key or None)


async def authenticate_request(request: HttpRequest) -> Reader:
    """The reader of an event stream's request: the ticket's (``?ticket=``; cookies
    are then ignored), or the user of the request's session, when the request comes
    from a page of the site (:func:`livebell.origin.request_origin_allowed`;
    otherwise the refusal is ``"cross_site"``).

    The session is read as the socket reads it (batched, never written), not through
    ``request.user``: ``AuthenticationMiddleware`` would flush a session whose hash
    no longer matches, and a stream must not change the browser's session.
    """
    ticket = request.GET.get("ticket")
    if ticket:
        return await _ticket_reader(ticket)
    if not origin.request_origin_allowed(request):
        return Reader(None, refusal="cross_site")
    session = getattr(request, "session", None)
    if session is None:
        return Reader(None)
    user, expires_at = await _resolve(session)
    return Reader(user, session.session_key, expires_at=expires_at)
