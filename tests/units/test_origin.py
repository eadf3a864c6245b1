"""The socket's origin check: Django's CSRF origin check, by scheme, host and port."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.mark.parametrize(
    ("origin", "host", "scheme", "trusted", "allowed"),
    [
        ("http://testserver", "testserver", "ws", [], True),
        ("http://testserver:8000", "testserver:8000", "ws", [], True),
        ("http://testserver:8001", "testserver:8000", "ws", [], False),
        ("https://testserver", "testserver", "ws", [], False),
        ("https://testserver", "testserver", "wss", [], True),
        ("http://evil.example", "testserver", "ws", [], False),
        ("http://testserver", "evil.example", "ws", [], False),  # host not allowed
        ("https://app.example.com", "testserver", "wss", ["https://*.example.com"], True),
        ("http://app.example.com", "testserver", "wss", ["https://*.example.com"], False),
        ("https://other.test", "testserver", "wss", ["https://other.test"], True),
        ("https://other.test:444", "testserver", "wss", ["https://other.test"], False),
        (None, "testserver", "ws", [], False),
    ],
)
def test_the_origin_check_is_djangos_csrf_check(
    settings: Any,
    origin: str | None,
    host: str,
    scheme: str,
    trusted: list[str],
    allowed: bool,
) -> None:
    from livebell.origin import origin_allowed

    settings.CSRF_TRUSTED_ORIGINS = trusted
    headers = [(b"host", host.encode())]
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    assert origin_allowed({"type": "websocket", "scheme": scheme, "headers": headers}) is allowed
