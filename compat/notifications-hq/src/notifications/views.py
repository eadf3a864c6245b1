"""hq's views, with its URL names (see :mod:`notifications.urls`).

The four that change state — mark all read, mark read, mark unread, delete — answer
``GET`` as hq's do, for the links sites already have, but refuse (403, nothing
changed) a ``GET`` that the browser says another site caused: ``Sec-Fetch-Site:
cross-site`` or ``same-site``, or, from browsers without Fetch Metadata, an
``Origin``/``Referer`` of another origin. ``POST`` to the same URL is the safe form
(Django's CSRF protection applies to it). The same rule keeps the JSON lists'
``?mark_as_read=1`` from marking anything for another site.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    HttpResponseForbidden,
    JsonResponse,
)
from django.shortcuts import get_object_or_404, redirect
from django.utils.decorators import method_decorator
from django.utils.encoding import iri_to_uri
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods
from django.views.generic import ListView
from swapper import load_model

from notifications import settings as notification_settings
from notifications.helpers import caused_by_other_site, get_notification_list
from notifications.utils import slug2id

__all__ = [
    "AllNotificationsList",
    "Notification",
    "UnreadNotificationsList",
    "delete",
    "live_all_notification_count",
    "live_all_notification_list",
    "live_unread_notification_count",
    "live_unread_notification_list",
    "mark_all_as_read",
    "mark_as_read",
    "mark_as_unread",
]


def _state_changing(view: Any) -> Any:
    """GET (refused when caused by another site) or POST; login required."""

    @login_required
    @require_http_methods(["GET", "POST"])
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.method == "GET" and caused_by_other_site(request):
            return HttpResponseForbidden(
                _("This link changes your notifications and was opened from another site.")
            )
        response: HttpResponse = view(request, *args, **kwargs)
        return response

    wrapper.__name__ = view.__name__
    wrapper.__doc__ = view.__doc__
    return wrapper


def _notifications(request: HttpRequest) -> Any:
    """The signed-in user's notifications (hq's ``related_name`` on the recipient)."""
    user: Any = request.user
    return user.notifications


def _next_or(request: HttpRequest, fallback: str) -> HttpResponse:
    _next = request.POST.get("next") or request.GET.get("next")
    if _next and url_has_allowed_host_and_scheme(_next, settings.ALLOWED_HOSTS):
        return redirect(iri_to_uri(_next))
    return redirect(fallback)


Notification = load_model("notifications", "Notification")


class NotificationViewList(ListView):  # type: ignore[type-arg]
    template_name = "notifications/list.html"
    context_object_name = "notifications"

    def get_paginate_by(self, queryset: Any) -> int:
        return int(notification_settings.get_config()["PAGINATE_BY"])

    @method_decorator(login_required)
    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        return super().dispatch(request, *args, **kwargs)


class AllNotificationsList(NotificationViewList):
    """All the user's notifications (without the soft-deleted ones)."""

    def get_queryset(self) -> Any:
        if notification_settings.get_config()["SOFT_DELETE"]:
            return _notifications(self.request).active()
        return _notifications(self.request).all()


class UnreadNotificationsList(NotificationViewList):
    def get_queryset(self) -> Any:
        return _notifications(self.request).unread()


@_state_changing
def mark_all_as_read(request: HttpRequest) -> HttpResponse:
    _notifications(request).mark_all_as_read()
    return _next_or(request, "notifications:unread")


@_state_changing
def mark_as_read(request: HttpRequest, slug: str | None = None) -> HttpResponse:
    notification = get_object_or_404(Notification, recipient=request.user, id=slug2id(slug or 0))
    notification.mark_as_read()
    return _next_or(request, "notifications:unread")


@_state_changing
def mark_as_unread(request: HttpRequest, slug: str | None = None) -> HttpResponse:
    notification = get_object_or_404(Notification, recipient=request.user, id=slug2id(slug or 0))
    notification.mark_as_unread()
    return _next_or(request, "notifications:unread")


@_state_changing
def delete(request: HttpRequest, slug: str | None = None) -> HttpResponse:
    notification = get_object_or_404(Notification, recipient=request.user, id=slug2id(slug or 0))
    if notification_settings.get_config()["SOFT_DELETE"]:
        notification.deleted = True
        notification.save()
    else:
        notification.delete()
    return _next_or(request, "notifications:all")


@never_cache
def live_unread_notification_count(request: HttpRequest) -> JsonResponse:
    if not request.user.is_authenticated:
        return JsonResponse({"unread_count": 0})
    return JsonResponse({"unread_count": _notifications(request).unread().count()})


@never_cache
def live_unread_notification_list(request: HttpRequest) -> JsonResponse:
    """The user's unread count and newest unread notifications."""
    if not request.user.is_authenticated:
        return JsonResponse({"unread_count": 0, "unread_list": []})
    unread_list = get_notification_list(request, "unread")
    return JsonResponse(
        {
            "unread_count": _notifications(request).unread().count(),
            "unread_list": unread_list,
        }
    )


@never_cache
def live_all_notification_list(request: HttpRequest) -> JsonResponse:
    """The user's count and newest notifications."""
    if not request.user.is_authenticated:
        return JsonResponse({"all_count": 0, "all_list": []})
    all_list = get_notification_list(request)
    return JsonResponse(
        {
            "all_count": _notifications(request).count(),
            "all_list": all_list,
        }
    )


@never_cache
def live_all_notification_count(request: HttpRequest) -> JsonResponse:
    if not request.user.is_authenticated:
        return JsonResponse({"all_count": 0})
    return JsonResponse({"all_count": _notifications(request).count()})
