"""Socket tickets: how a client without the site's cookies opens a socket.

A mobile app or a script authenticated to the REST API (a token, or a session
with CSRF) asks ``POST socket-ticket/`` for a ticket, then connects to
``ws/notifications/?ticket=…`` within ``LIVEBELL["TICKET_MAX_AGE_SECONDS"]``
(30) — or, to keep it out of URLs and so out of access logs, offers the
subprotocols ``livebell`` and ``livebell.ticket.<ticket>`` (the server accepts with
``livebell``). A ticket is:

- **signed** (``django.core.signing``, salted): anything else is refused without
  a query;
- **short-lived**: its signature carries its time, and its row its expiry;
- **single-use**: redeeming it deletes its row, in one transaction, so a replayed
  ticket (from a log, a proxy, a browser history) finds nothing;
- **bound to the user and to the credential it was asked with**: redeeming it
  checks that the session (or the token) still belongs to the user, so a ticket
  is void after logout, a password change or the token's deletion; logging out
  also deletes the session's unused tickets. The socket then lives no longer than
  that credential, like a cookie socket lives no longer than its session;
- **bounded**: a user has at most :data:`MAX_UNUSED_PER_USER` (10) unused tickets;
  asking for another drops their oldest (which then opens nothing, like a used
  one). Expired rows are deleted whenever a ticket is asked for or redeemed.

Only a digest of the ticket is stored. The origin check does not apply to ticket
sockets (a page elsewhere cannot obtain a ticket), and a ticket socket ignores
cookies. A ticket opens an event stream (``stream/?ticket=…``) the same way.

This module stores and takes tickets; turning one into a user is
:func:`livebell.live.credentials.redeem`'s, with every other credential.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.core import signing
from django.db import transaction
from django.utils import timezone

from livebell.conf import livebell_settings
from livebell.models import SocketTicket

__all__ = ["MAX_UNUSED_PER_USER", "TicketClaim", "issue", "revoke_session", "take"]

#: The most unused tickets a user has: asking for one more drops their oldest.
MAX_UNUSED_PER_USER = 10

_SALT = "livebell.socket-ticket"
# "." rather than the signer's ":", so that a ticket is an HTTP token and can be
# offered as a WebSocket subprotocol (``livebell.ticket.<ticket>``) as it is.
_SEP = "."


@dataclass(frozen=True, slots=True)
class TicketClaim:
    """What a ticket was asked with: its user, and the session or the token."""

    user_id: Any
    #: The session it was asked with, or None (a token).
    session_key: str | None
    #: The REST token it was asked with, or None (a session).
    token_key: str | None


def _digest(nonce: str) -> str:
    return hashlib.sha256(nonce.encode()).hexdigest()


def issue(user: Any, *, session_key: str | None = None, token_key: str | None = None) -> str:
    """A new ticket for ``user``, bound to the session or the token it was asked with.

    The user's oldest unused tickets past :data:`MAX_UNUSED_PER_USER` are deleted.

    Raises:
        ValueError: neither or both of ``session_key`` and ``token_key`` given.
    """
    if bool(session_key) == bool(token_key):
        raise ValueError("A ticket is bound to exactly one session or one token.")
    now = timezone.now()
    _delete_expired(now)
    nonce = secrets.token_urlsafe(24)
    with transaction.atomic():
        created = SocketTicket.objects.create(
            digest=_digest(nonce),
            user=user,
            session_key=session_key or "",
            token_key=token_key or "",
            expires_at=now + timedelta(seconds=int(livebell_settings.TICKET_MAX_AGE_SECONDS)),
        )
        # The user's oldest unused tickets past MAX_UNUSED_PER_USER go: a client that
        # asks again and again keeps a few rows, not one per request.
        kept = SocketTicket.objects.filter(user_id=created.user_id).order_by("-pk")
        newest = list(kept.values_list("pk", flat=True)[:MAX_UNUSED_PER_USER])
        kept.exclude(pk__in=newest).delete()
    return signing.TimestampSigner(salt=_SALT, sep=_SEP).sign(nonce)


def _delete_expired(now: Any) -> None:
    # Expired tickets of anyone go with each ticket asked for or redeemed (an index
    # range; usually none).
    SocketTicket.objects.filter(expires_at__lt=now).delete()


def take(ticket: str) -> TicketClaim | None:
    """Use ``ticket`` up: whom and what credential it was asked with, or None if it is
    forged, expired or used. Whether that credential is still the user's is for
    :func:`livebell.live.credentials.redeem` to say."""
    try:
        nonce = signing.TimestampSigner(salt=_SALT, sep=_SEP).unsign(
            ticket, max_age=int(livebell_settings.TICKET_MAX_AGE_SECONDS)
        )
    except signing.BadSignature:  # SignatureExpired included
        return None
    now = timezone.now()
    _delete_expired(now)
    with transaction.atomic():
        row = (
            SocketTicket.objects.select_for_update()
            .filter(digest=_digest(nonce), expires_at__gte=now)
            .first()
        )
        if row is None or not SocketTicket.objects.filter(pk=row.pk).delete()[0]:
            return None
    return TicketClaim(row.user_id, row.session_key or None, row.token_key or None)


def revoke_session(user_id: Any, session_key: str) -> None:
    """Delete the unused tickets asked with a session (it is being logged out)."""
    SocketTicket.objects.filter(user_id=user_id, session_key=session_key).delete()
