"""The pages of livebell that are not the REST API: ``…/<id>/go/``, the full page, and
the service worker of web push.

``go`` is what a click on a notification opens: it marks the notification read and
redirects to its target. Two rules keep it safe:

- **No open redirect.** It redirects only to a URL of this site (a path, or the
  request's own host and scheme), checked by Django's
  ``url_has_allowed_host_and_scheme``; any other target goes to the fallback
  (the notifications page, else ``/``).
- **No state change from another site.** A GET can be caused by any page (a link,
  an image), so it marks read only when the browser says the request came from this
  site: ``Sec-Fetch-Site: same-origin`` (or ``none``: typed, a bookmark), or, from
  browsers that do not send it, an ``Origin`` or ``Referer`` of this site. A
  cross-site request is still redirected, but nothing changes.

See docs/widget.md ("Opening a notification").
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import NoReverseMatch, reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET
from django.views.generic import TemplateView

from livebell import inbox
from livebell.ids import InvalidId, parse_id
from livebell.models import Notification

__all__ = ["NotificationsPage", "go", "is_same_origin", "safe_target", "service_worker"]


def is_same_origin(request: HttpRequest) -> bool:
    """Whether the browser says this request was made by a page of this site.

    ``Sec-Fetch-Site`` first (every current browser sends it); without it, the
    ``Origin`` header, then the ``Referer``, compared by scheme, host and port.
    A request that carries none of them is not trusted.
    """
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site is not None:
        return fetch_site in ("same-origin", "none")
    own = f"{request.scheme}://{request.get_host()}"
    origin = request.headers.get("Origin")
    if origin is not None and origin != "null":
        return origin == own
    referer = request.headers.get("Referer")
    if referer:
        parts = urlsplit(referer)
        return f"{parts.scheme}://{parts.netloc}" == own
    return False


def _fallback() -> str:
    try:
        return reverse("livebell_pages:notifications")
    except NoReverseMatch:
        return "/"


def safe_target(request: HttpRequest, url: str) -> str:
    """``url`` if it stays on this site, else the fallback page.

    Only relative URLs and absolute ones for the request's own host qualify; on an
    HTTPS request an ``http:`` URL does not. Protocol-relative (``//evil``),
    backslash tricks and ``javascript:`` URLs are refused by Django's check.
    """
    if url and url_has_allowed_host_and_scheme(
        url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return url
    return _fallback()


@require_GET
@login_required
def go(request: HttpRequest, id: str) -> HttpResponse:
    """Mark the user's notification ``id`` read (same-site requests only) and open its target.

    Raises:
        Http404: no notification ``id`` of this user (another user's is treated alike).
    """
    try:
        pk = parse_id(id, text=True)
    except InvalidId:
        raise Http404 from None
    row = (
        Notification.objects.for_user(request.user)
        .filter(pk=pk)
        .values("target_url", "read_at")
        .first()
    )
    if row is None:
        raise Http404
    if row["read_at"] is None and is_same_origin(request):
        inbox.mark_read(request.user, [pk])
    response = HttpResponseRedirect(safe_target(request, row["target_url"]))
    # The answer depends on the user and the headers: never cache it.
    response["Cache-Control"] = "no-store"
    return response


class NotificationsPage(TemplateView):
    """The full page of the user's notifications (``livebell.page_urls``).

    ``base_template`` is the template it extends, which must define the blocks
    ``title`` and ``content``; set it to the site's own base::

        path("notifications/", NotificationsPage.as_view(base_template="site/base.html"))
    """

    template_name = "livebell/notifications.html"
    base_template = "livebell/base.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return {**super().get_context_data(**kwargs), "base_template": self.base_template}

    @classmethod
    def as_view(cls, **initkwargs: Any) -> Any:
        return login_required(super().as_view(**initkwargs))


_WORKER = Path(__file__).resolve().parent / "static" / "livebell" / "webpush-worker.js"


@functools.cache
def _worker_source() -> bytes:
    return _WORKER.read_bytes()


@require_GET
def service_worker(request: HttpRequest) -> HttpResponse:
    """The service worker of web push (docs/web-push.md), from the site's own origin.

    A view, not a static file: a service worker must come from the page's origin, and
    static files are often on another (a CDN). Its scope is its own path's directory
    (``…/webpush/``): a push reaches a worker whatever pages it controls, so it needs
    no wider scope, and a site's own service worker at ``/`` keeps its own.
    """
    response = HttpResponse(_worker_source(), content_type="text/javascript; charset=utf-8")
    # Browsers look for a new worker at least daily; a short cache lets a deploy reach
    # them sooner without a request per page.
    response["Cache-Control"] = "max-age=300"
    response["X-Content-Type-Options"] = "nosniff"
    return response
