"""The unsubscribe link of livebell's emails: ``…/email/unsubscribe/<token>/``.

The token is signed (:func:`livebell.reach.email.unsubscribe_token`) and names the
user and the types; no sign-in is needed, as RFC 8058 requires of a one-click
unsubscribe. A GET changes nothing (mail scanners follow links): it shows a page
with a button, whose POST is CSRF-checked as any form. A POST whose body is
``List-Unsubscribe=One-Click`` is a mail client's one-click unsubscribe (RFC 8058):
it carries no CSRF token, and the signature alone authenticates it.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.middleware.csrf import CsrfViewMiddleware
from django.shortcuts import render
from django.utils.translation import gettext
from django.views.decorators.csrf import csrf_exempt

from livebell import preferences, types
from livebell.models import Channel
from livebell.reach.email import BadUnsubscribeToken, read_unsubscribe_token

__all__ = ["unsubscribe"]


@csrf_exempt  # only the RFC 8058 POST goes unchecked: the form's POST is checked below
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """Show (GET) or do (POST) the unsubscribe from the types a signed token names.

    Raises:
        Http404: a token livebell did not sign, or whose user no longer exists.
    """
    if request.method not in ("GET", "HEAD", "POST"):
        return HttpResponseNotAllowed(["GET", "HEAD", "POST"])
    try:
        user_id, keys = read_unsubscribe_token(token)
        user = get_user_model()._default_manager.filter(pk=user_id).first()
    except (BadUnsubscribeToken, ValueError, ValidationError):
        raise Http404 from None
    if user is None:
        raise Http404
    kinds = [kind for kind in map(_registered, keys) if kind is not None and kind.optional]
    context: dict[str, Any] = {"labels": [str(kind.label) for kind in kinds], "done": False}
    if request.method == "POST":
        one_click = request.POST.get("List-Unsubscribe") == "One-Click"
        if not one_click:
            refused = _csrf_refusal(request)
            if refused is not None:
                return refused
        preferences.set_choices(user, [(kind.key, Channel.EMAIL, False) for kind in kinds])
        if one_click:
            response = HttpResponse(gettext("You are unsubscribed."), content_type="text/plain")
            response["Cache-Control"] = "no-store"
            return response
        context["done"] = True
    response = render(request, "livebell/email/unsubscribe.html", context)
    response["Cache-Control"] = "no-store"
    return response


def _registered(key: str) -> types.NotificationType | None:
    try:
        return types.get(key)
    except types.UnknownType:
        return None


def _csrf_refusal(request: HttpRequest) -> HttpResponse | None:
    """Django's CSRF check of a form's POST, as CsrfViewMiddleware would make it; the
    403 response, or None when it passes."""
    check = CsrfViewMiddleware(_unused_view)
    check.process_request(request)
    refused: HttpResponse | None = check.process_view(request, _unused_view, (), {})
    return refused


def _unused_view(request: HttpRequest) -> HttpResponse:
    """The middleware's next handler and the view it checks for: never called."""
    return HttpResponse()
