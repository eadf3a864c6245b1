"""The list's filters: ``?unread=true|false``, ``?type=…``, ``?verb=…``, ``?level=…``.

A bad value is answered 400 with a message naming the parameter, never ignored:
a client that asked for unread notifications must not silently get all of them.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from rest_framework.filters import BaseFilterBackend
from rest_framework.request import Request

from livebell.ids import quote
from livebell.models import VERB_MAX_LENGTH, Level
from livebell.rest.errors import InvalidRequest
from livebell.types import KEY_MAX_LENGTH

__all__ = ["NotificationFilter"]


class NotificationFilter(BaseFilterBackend):
    """Filter the user's notifications by read state, type, exact verb and level."""

    def filter_queryset(
        self, request: Request, queryset: QuerySet[Any], view: Any
    ) -> QuerySet[Any]:
        """Apply the filters present in the query string.

        Raises:
            InvalidRequest: ``unread`` is not ``true`` or ``false``; ``type`` or
                ``verb`` is empty or too long; ``level`` is not a known level.
        """
        params = request.query_params
        unread = params.get("unread")
        if unread is not None:
            # Exactly the two spellings OpenAPI gives a boolean in a query string.
            if unread not in ("true", "false"):
                raise InvalidRequest(f"unread must be true or false, got {quote(unread)}.")
            queryset = queryset.filter(read_at__isnull=unread == "true")
        verb = params.get("verb")
        if verb is not None:
            if not verb or len(verb) > VERB_MAX_LENGTH:
                raise InvalidRequest(f"verb must be 1 to {VERB_MAX_LENGTH} characters long.")
            queryset = queryset.filter(verb=verb)
        kind = params.get("type")
        if kind is not None:
            if not kind or len(kind) > KEY_MAX_LENGTH:
                raise InvalidRequest(f"type must be 1 to {KEY_MAX_LENGTH} characters long.")
            queryset = queryset.filter(type=kind)
        level = params.get("level")
        if level is not None:
            if level not in Level.values:
                raise InvalidRequest(
                    f"level must be one of {', '.join(Level.values)}; got {quote(level)}."
                )
            queryset = queryset.filter(level=level)
        return queryset

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        """The three query parameters, as OpenAPI parameter objects."""
        return [
            {
                "name": "unread",
                "in": "query",
                "required": False,
                "description": "`true`: only unread notifications; `false`: only read ones.",
                "schema": {"type": "boolean"},
            },
            {
                "name": "type",
                "in": "query",
                "required": False,
                "description": "Only notifications of this type (its key, see docs/types.md).",
                "schema": {"type": "string", "minLength": 1, "maxLength": KEY_MAX_LENGTH},
            },
            {
                "name": "verb",
                "in": "query",
                "required": False,
                "description": "Only notifications with exactly this verb.",
                "schema": {"type": "string", "minLength": 1, "maxLength": VERB_MAX_LENGTH},
            },
            {
                "name": "level",
                "in": "query",
                "required": False,
                "description": "Only notifications of this level.",
                "schema": {"type": "string", "enum": list(Level.values)},
            },
        ]
