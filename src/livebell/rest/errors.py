"""Errors of the REST API: the 400 it raises, and the error responses it documents.

Every error body is DRF's ``{"detail": "<message>"}``, so a client has one shape
to read whatever went wrong.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, JsonResponse
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers
from rest_framework.exceptions import APIException, NotFound

__all__ = ["BodyTooLarge", "ErrorSerializer", "InvalidRequest", "error_responses", "not_found"]


class InvalidRequest(APIException):
    """A request the API cannot act on: answered with 400 and ``{"detail": message}``.

    DRF's ``ValidationError`` would answer ``["message"]`` (a list) for a plain
    message; this keeps the one ``{"detail": ...}`` shape of every other error.
    """

    status_code = 400
    default_detail = "Invalid request."
    default_code = "invalid"


class BodyTooLarge(APIException):
    """A request body larger than the API reads: answered with 413 and ``{"detail": message}``."""

    status_code = 413
    default_detail = "The body is too large."
    default_code = "body_too_large"


class ErrorSerializer(serializers.Serializer[object]):
    """An error. `detail` says what went wrong."""

    detail = serializers.CharField(help_text="What went wrong, for a person to read.")


# Said of every endpoint: they all require an authenticated user.
_AUTH_ERRORS = {
    401: "Not authenticated: no credentials, or an invalid token. "
    "(Answered when the first authentication class is token authentication, the default.)",
    403: "Not authenticated, when the project's first authentication class is session "
    "authentication; or, on POST and DELETE with a session, no valid CSRF token.",
}


def not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
    """The API's 404 for a path under its prefix that no endpoint matches.

    DRF's ``{"detail": "Not found."}`` (in the request's language), not the site's
    HTML page: a client of the API reads one shape whatever went wrong.
    """
    return JsonResponse({"detail": str(NotFound.default_detail)}, status=404)


def error_responses(described: dict[int, str]) -> dict[int, OpenApiResponse]:
    """The documented error responses of an endpoint: ``described`` plus 401 and 403."""
    return {
        code: OpenApiResponse(response=ErrorSerializer, description=description)
        for code, description in sorted({**described, **_AUTH_ERRORS}.items())
    }
