"""The REST API against its own OpenAPI schema, with schemathesis.

The schema is loaded from the demo's ``/api/schema/`` through Django's WSGI app,
and every operation is called with generated requests (valid and invalid ones),
authenticated as bob with a few notifications (his and alice's). Each response
must conform to the schema (status, content type, body) and none may be a 5xx;
schemathesis also checks that each operation refuses a request without
credentials.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token

from livebell import notify

pytestmark = [pytest.mark.django_db]


# Loaded once, at collection: the schema endpoint needs no database. (Not through
# schemathesis.pytest.from_fixture, which fails on pytest 9.2: it sets Node._nodeid.)
schema = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())


@pytest.fixture(autouse=True)
def requests_in_the_test_transaction() -> Iterator[None]:
    """Let the WSGI app serve requests inside the test's transaction.

    Django closes the connection when a request starts and ends; inside the test's
    transaction that would break it, so (like Django's own test client) those
    handlers are disconnected while the test runs.
    """
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def bobs_token(make_user: Any) -> str:
    from tests.testapp.models import Post

    bob, alice = make_user("bob"), make_user("alice")
    post = Post.objects.create(title="My post")
    for index in range(4):
        notify(bob, f"liked {index}", actor=alice, target=post if index % 2 else None)
        notify(alice, f"alice's {index}", actor=bob, data={"n": index})
    notify(bob, "deploy failed", level="error", data={"release": "1.4.2"})
    return str(Token.objects.create(user=bob).key)


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    # No example database on disk: the run is bounded and reproducible from its seed.
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_api_conforms_to_its_schema(case: Any, bobs_token: str) -> None:
    excluded = []
    if (case.method, case.path) in STATEFUL_VALIDITY:
        # Whether a body is acceptable there depends on the server, not only on the
        # schema: the registered notification types, the installed models, the clock,
        # the push services it sends to.
        excluded.append(schemathesis.checks.positive_data_acceptance)
    case.call_and_validate(
        headers={"Authorization": f"Token {bobs_token}"}, excluded_checks=excluded
    )


STATEFUL_VALIDITY = {
    ("PATCH", "/api/notifications/preferences/"),
    ("POST", "/api/notifications/mutes/"),
    # Only endpoints of the push services in WEB_PUSH_SERVICES, with a browser's keys.
    ("POST", "/api/notifications/webpush/subscriptions/"),
}
