"""The socket's origin check: scheme, host and port, with Django's CSRF semantics.

A browser sends the page's origin with every WebSocket handshake, and sends the
site's cookies whatever that origin is. So a page elsewhere — another site, or
another port or scheme of the same host — could open a socket with the user's
session (cross-site WebSocket hijacking) unless the handshake's ``Origin`` is
checked in full. Channels' ``AllowedHostsOriginValidator`` compares the host
only; :class:`OriginValidator` accepts exactly the origins Django's
``CsrfViewMiddleware`` accepts for a POST:

- the socket's own origin: ``http``/``https`` for ``ws``/``wss`` (as the ASGI
  server reports it, e.g. behind ``--proxy-headers``) and the ``Host`` header
  (``X-Forwarded-Host`` with ``USE_X_FORWARDED_HOST``), port included, when that
  host is in ``ALLOWED_HOSTS``;
- an origin listed in ``CSRF_TRUSTED_ORIGINS`` (``https://*.example.com`` entries
  match subdomains, on that scheme only).

Anything else, a missing ``Origin`` included, is refused with HTTP 403 before the
socket opens. A handshake that carries a socket ticket (``?ticket=`` or a
``livebell.ticket.…`` subprotocol, see
:mod:`livebell.live.tickets`) is not checked: a ticket is no ambient credential, a page
elsewhere cannot obtain one, and the socket then ignores cookies.

Wrap the socket's router with it::

    "websocket": OriginValidator(URLRouter(livebell.routing.websocket_urlpatterns))

The event stream (:mod:`livebell.live.stream`) is a ``GET``, for which browsers send no
``Origin`` when the page is the site's own. :func:`request_origin_allowed` reads
the Fetch Metadata header ``Sec-Fetch-Site`` then: a request another site (or a
sibling subdomain) made is refused unless its ``Origin`` is one the socket would
accept, and a request with an ``Origin`` is held to that origin's check whatever
else it says. A request with neither header (a script, an old browser's
same-origin request) carries no cross-site risk a browser's ``Origin`` would tell.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.http import HttpRequest
from django.http.request import split_domain_port, validate_host
from django.utils.http import is_same_domain

from livebell import metrics
from livebell.protocol import handshake_ticket

__all__ = ["OriginValidator", "origin_allowed", "request_origin_allowed"]

logger = logging.getLogger("livebell.socket")


def _header(scope: dict[str, Any], name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            text: str = value.decode("latin-1")
            return text
    return None


def _allowed_hosts() -> list[str]:
    # Django's HttpRequest.get_host(): with DEBUG and no ALLOWED_HOSTS, local names.
    hosts = list(settings.ALLOWED_HOSTS)
    if settings.DEBUG and not hosts:
        hosts = [".localhost", "127.0.0.1", "[::1]"]
    return hosts


def _own_origin(scope: dict[str, Any]) -> str | None:
    """``scheme://host[:port]`` of the socket itself, if its host is allowed."""
    host = None
    if settings.USE_X_FORWARDED_HOST:
        host = _header(scope, b"x-forwarded-host")
    if host is None:
        host = _header(scope, b"host")
    if not host:
        return None
    domain, _ = split_domain_port(host)
    if not domain or not validate_host(domain, _allowed_hosts()):
        return None
    scheme = "https" if scope.get("scheme") in ("wss", "https") else "http"
    return f"{scheme}://{host}"


def _trusted(origin: str, trusted: Iterable[str]) -> bool:
    """``CSRF_TRUSTED_ORIGINS`` as ``CsrfViewMiddleware._origin_verified`` reads it."""
    trusted = list(trusted)
    if origin in trusted:
        return True
    try:
        parsed = urlsplit(origin)
    except ValueError:
        return False
    subdomains = [urlsplit(entry) for entry in trusted if "*" in entry]
    return any(
        allowed.scheme == parsed.scheme
        and is_same_domain(parsed.netloc, allowed.netloc.lstrip("*"))
        for allowed in subdomains
    )


def origin_allowed(scope: dict[str, Any]) -> bool:
    """Whether the handshake in ``scope`` comes from an origin the site trusts."""
    origin = _header(scope, b"origin")
    if not origin or origin == "null":
        return False
    own = _own_origin(scope)
    if own is not None and origin == own:
        return True
    return _trusted(origin, getattr(settings, "CSRF_TRUSTED_ORIGINS", ()))


def request_origin_allowed(request: HttpRequest) -> bool:
    """Whether an HTTP request (the event stream's ``GET``) comes from a page of the
    site, or from an origin ``CSRF_TRUSTED_ORIGINS`` lists.

    ``Origin``, when sent, decides as for the socket (own origin: the request's
    scheme and ``get_host()``). Without it, ``Sec-Fetch-Site`` must not say
    ``cross-site`` or ``same-site``.
    """
    origin = request.headers.get("Origin")
    if origin is not None:
        if origin == "null":
            return False
        try:
            own = f"{request.scheme}://{request.get_host()}"
        except DisallowedHost:
            own = None
        if origin == own:
            return True
        return _trusted(origin, getattr(settings, "CSRF_TRUSTED_ORIGINS", ()))
    return request.headers.get("Sec-Fetch-Site") not in ("cross-site", "same-site")


def _has_ticket(scope: dict[str, Any]) -> bool:
    return handshake_ticket(scope) is not None


class OriginValidator:
    """ASGI middleware that refuses (403) WebSocket handshakes from untrusted origins.

    Args:
        app: the ASGI application to run for allowed handshakes.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        if scope["type"] != "websocket" or _has_ticket(scope) or origin_allowed(scope):
            return await self.app(scope, receive, send)
        origin = _header(scope, b"origin")
        metrics.REFUSALS.labels("origin").inc()
        logger.info(
            "livebell: socket refused reason=origin origin=%r host=%r",
            (origin or "")[:100],
            (_header(scope, b"host") or "")[:100],
            extra={"event": "socket.refused", "reason": "origin"},
        )
        # Before accept: the ASGI server answers the handshake with 403.
        message = await receive()
        if message["type"] == "websocket.connect":
            await send({"type": "websocket.close"})
        return None
