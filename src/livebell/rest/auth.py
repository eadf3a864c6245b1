"""Which authentication the REST endpoints accept.

The endpoints are secure whatever the project's ``REST_FRAMEWORK`` says: they
always require an authenticated user (``IsAuthenticated``, set on the views), and
they authenticate with token then session unless the project chose otherwise.
"""

from __future__ import annotations

from typing import cast

from django.apps import apps
from django.conf import settings
from rest_framework.authentication import (
    BaseAuthentication,
    SessionAuthentication,
    TokenAuthentication,
)
from rest_framework.settings import api_settings

__all__ = ["authentication_classes"]


def authentication_classes() -> list[type[BaseAuthentication]]:
    """The authentication classes of livebell's endpoints, read at each request.

    - The project's ``REST_FRAMEWORK["DEFAULT_AUTHENTICATION_CLASSES"]`` when it
      sets one (e.g. to add JWT): the project has chosen how its API authenticates.
    - Otherwise ``TokenAuthentication`` (only when ``rest_framework.authtoken`` is
      installed: its ``Token`` model needs the app) then ``SessionAuthentication``,
      which enforces CSRF on POST and DELETE. Token first, so an anonymous request
      is answered 401 with ``WWW-Authenticate: Token`` rather than a bare 403.

    DRF's own default (session and HTTP Basic) is not used: Basic would invite
    clients to send the user's password with every request.
    """
    configured = getattr(settings, "REST_FRAMEWORK", None) or {}
    if "DEFAULT_AUTHENTICATION_CLASSES" in configured:
        # DRF's settings object has imported the dotted paths into classes.
        return cast(
            list[type[BaseAuthentication]], list(api_settings.DEFAULT_AUTHENTICATION_CLASSES)
        )
    classes: list[type[BaseAuthentication]] = []
    if apps.is_installed("rest_framework.authtoken"):
        classes.append(TokenAuthentication)
    classes.append(SessionAuthentication)
    return classes
