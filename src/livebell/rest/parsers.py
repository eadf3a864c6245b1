"""The JSON parser of the REST API's bodies: bounded in size and depth.

DRF's ``JSONParser`` hands the body to ``json.load``, which raises
``RecursionError`` (a 500) for a body nested a thousand levels deep — 2 kB are
enough. Bodies of this API nest two levels at most, so anything deeper than
:data:`livebell.protocol.MAX_DEPTH` is refused with the API's 400, as is a body
over ``MAX_BODY_BYTES`` (the largest valid body, 1,000 ids, is under 25 kB).
"""

from __future__ import annotations

from typing import Any

import orjson
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from livebell.protocol import MAX_DEPTH, too_deep

__all__ = ["MAX_BODY_BYTES", "BoundedJSONParser"]

#: The largest body read; larger ones are refused before parsing.
MAX_BODY_BYTES = 64 * 1024


class BoundedJSONParser(JSONParser):
    """``application/json`` bodies, refused with 400 when too large or too deeply nested."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        """Decode the body.

        Raises:
            ParseError: not valid JSON, over ``MAX_BODY_BYTES``, or nested deeper
                than ``MAX_DEPTH`` levels.
        """
        body = stream.read(MAX_BODY_BYTES + 1) if stream is not None else b""
        if len(body) > MAX_BODY_BYTES:
            raise ParseError(f"The body is larger than {MAX_BODY_BYTES} bytes.")
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
        if too_deep(data):
            raise ParseError(f"The body may nest at most {MAX_DEPTH} levels.")
        return data
