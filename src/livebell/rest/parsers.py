"""The one parser of the REST API's bodies: JSON, bounded in size and depth.

Every livebell endpoint reads its body with :class:`BoundedJSONParser` (set once,
on :class:`livebell.rest.views.InboxView`); no endpoint has a parser of its own.

DRF's ``JSONParser`` hands the body to ``json.load``, which raises
``RecursionError`` (a 500) for a body nested a thousand levels deep — 2 kB are
enough — and DRF first reads the whole body through ``request.body``, which raises
Django's ``RequestDataTooBig`` (an HTML 400) past ``DATA_UPLOAD_MAX_MEMORY_SIZE``.
This parser reads at most ``MAX_BODY_BYTES`` + 1 bytes of the stream itself: a
larger body is refused with 413, whatever ``DATA_UPLOAD_MAX_MEMORY_SIZE`` says, and
a body nested deeper than :data:`livebell.protocol.MAX_DEPTH` with 400. Bodies of
this API nest two levels at most; the largest valid one, 1,000 ids, is under 25 kB.
"""

from __future__ import annotations

from typing import Any

import orjson
from rest_framework.exceptions import ParseError
from rest_framework.parsers import BaseParser

from livebell.protocol import MAX_DEPTH, too_deep
from livebell.rest.errors import BodyTooLarge

__all__ = ["MAX_BODY_BYTES", "BoundedJSONParser"]

#: The largest body read; larger ones are refused (413) before parsing.
MAX_BODY_BYTES = 64 * 1024


class BoundedJSONParser(BaseParser):
    """``application/json`` bodies, refused when too large (413) or too deeply nested (400).

    Not a subclass of DRF's ``JSONParser``: DRF reads ``request.body`` whole for
    those before parsing; this one gets the request's stream and reads it bounded.
    """

    media_type = "application/json"

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        """Decode the body.

        Raises:
            BodyTooLarge: over ``MAX_BODY_BYTES``.
            ParseError: not valid JSON, or nested deeper than ``MAX_DEPTH`` levels.
        """
        body = stream.read(MAX_BODY_BYTES + 1) if stream is not None else b""
        if len(body) > MAX_BODY_BYTES:
            raise BodyTooLarge(f"The body is larger than {MAX_BODY_BYTES} bytes.")
        try:
            # orjson refuses JSON nested past its own limit (1,024) without recursing.
            data = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
        if too_deep(data):
            raise ParseError(f"The body may nest at most {MAX_DEPTH} levels.")
        return data
