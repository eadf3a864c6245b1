"""Errors of the REST API: the 400 it raises, and the error responses it documents.

Every error body is DRF's ``{"detail": "<message>"}``, so a client has one shape
to read whatever went wrong.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers
from rest_framework.exceptions import APIException

__all__ = ["ErrorSerializer", "InvalidRequest", "error_responses"]


class InvalidRequest(APIException):
    """A request the API cannot act on: answered with 400 and ``{"detail": message}``.

    DRF's ``ValidationError`` would answer ``["message"]`` (a list) for a plain
    message; this keeps the one ``{"detail": ...}`` shape of every other error.
    """

    status_code = 400
    default_detail = "Invalid request."
    default_code = "invalid"


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


def error_responses(described: dict[int, str]) -> dict[int, OpenApiResponse]:
    """The documented error responses of an endpoint: ``described`` plus 401 and 403."""
    return {
        code: OpenApiResponse(response=ErrorSerializer, description=description)
        for code, description in sorted({**described, **_AUTH_ERRORS}.items())
    }
