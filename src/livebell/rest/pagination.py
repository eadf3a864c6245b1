"""Cursor pagination of the inbox, newest first.

A cursor names the last id a page showed, not an offset, so pages stay exact
while new notifications arrive: following ``next`` never repeats nor skips one.
"""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import NotFound
from rest_framework.pagination import Cursor, CursorPagination
from rest_framework.request import Request

from livebell.ids import InvalidId, parse_id, quote
from livebell.rest.errors import InvalidRequest

__all__ = ["NotificationCursorPagination"]


class NotificationCursorPagination(CursorPagination):
    """``?cursor=`` and ``?page_size=`` (default 20, at most 100) over rows ordered by ``-id``.

    Ordered by the primary key, which is unique and increases with creation, so a
    cursor is one ``id < N`` condition on the recipient/id index.
    """

    ordering = "-id"
    page_size = 20
    max_page_size = 100
    page_size_query_param = "page_size"
    cursor_query_description = (
        "Opaque position from the `next` or `previous` link of a previous page. "
        "Omit it for the newest page."
    )
    page_size_query_description = (
        "Notifications per page: 20 when omitted; larger values than 100 are served as 100."
    )
    invalid_cursor_message = "Invalid cursor: follow the next or previous links as given."

    def get_page_size(self, request: Request) -> int:
        """The requested page size, capped at ``max_page_size``.

        Raises:
            InvalidRequest: ``page_size`` is not a positive integer. (DRF ignores a
                bad value silently; a client that asked for something should know.)
        """
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        digits = raw.lstrip("0")
        if not (raw.isascii() and raw.isdigit() and digits):
            raise InvalidRequest(f"page_size must be a positive integer, got {quote(raw)}.")
        # Compare lengths first: int() of a huge digit string is slow (or refused).
        if len(digits) > len(str(self.max_page_size)):
            return self.max_page_size
        return min(int(digits), self.max_page_size)

    def decode_cursor(self, request: Request) -> Cursor | None:
        """Decode the cursor, also refusing one whose position is not an id.

        DRF would pass any decoded position to ``id < %s``, and a crafted one that
        is not a number would fail there with a server error instead of a 404.
        """
        cursor = super().decode_cursor(request)
        position = None if cursor is None else cursor.position
        if position is not None:
            try:
                parse_id(position, text=True)
            except InvalidId:
                raise NotFound(self.invalid_cursor_message) from None
        return cursor

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        """DRF's page schema, with ``next`` and ``previous`` required (both are always sent)."""
        page = super().get_paginated_response_schema(schema)
        page["required"] = ["next", "previous", "results"]
        links = page["properties"]
        links["next"]["description"] = "URL of the next (older) page, or null on the last."
        links["previous"]["description"] = "URL of the previous (newer) page, or null."
        # DRF's examples name another API (and one has a stray quote).
        links["next"]["example"] = "https://example.com/api/notifications/?cursor=cD00ODY%3D"
        links["previous"]["example"] = "https://example.com/api/notifications/?cursor=cj0xJnA9NDg3"
        return page

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        """DRF's cursor and page_size parameters, with page_size's bounds stated."""
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"] = {"type": "integer", "minimum": 1, "default": self.page_size}
        return parameters
