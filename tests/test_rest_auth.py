"""Who may call the REST API: no one anonymous; token and session (with CSRF) clients."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from rest_framework.authentication import SessionAuthentication, TokenAuthentication
from rest_framework.authtoken.models import Token

from livebell import notify
from livebell.models import Notification
from livebell.rest import auth

pytestmark = [pytest.mark.django_db]

LIST = "/api/notifications/"

# Every endpoint, with a request that would succeed for a logged-in owner.
ENDPOINTS = [
    ("get", LIST, None),
    ("get", f"{LIST}unread-count/", None),
    ("post", f"{LIST}mark-read/", {"ids": [1]}),
    ("post", f"{LIST}mark-unread/", {"ids": [1]}),
    ("post", f"{LIST}mark-all-read/", {}),
    ("delete", f"{LIST}1/", None),
]


def call(client: Any, method: str, url: str, body: Any, **extra: Any) -> Any:
    if body is None:
        return getattr(client, method)(url, **extra)
    return getattr(client, method)(url, body, format="json", **extra)


@pytest.fixture
def bob(make_user: Any) -> Any:
    user = make_user("bob")
    notify(user, "liked your post")
    return user


@pytest.mark.parametrize(("method", "url", "body"), ENDPOINTS)
def test_anonymous_gets_401_and_no_data(
    rest_client: Any, bob: Any, method: str, url: str, body: Any
) -> None:
    response = call(rest_client(), method, url, body)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert response.json() == {"detail": "Authentication credentials were not provided."}
    assert Notification.objects.unread().count() == 1  # nothing changed


@pytest.mark.parametrize(("method", "url", "body"), ENDPOINTS)
def test_invalid_token_gets_401(
    rest_client: Any, bob: Any, method: str, url: str, body: Any
) -> None:
    client = rest_client()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    response = call(client, method, url, body)
    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid token."}


def test_token_authentication(rest_client: Any, bob: Any) -> None:
    # The way docs/api.md tells to make a token.
    out = StringIO()
    call_command("drf_create_token", "bob", stdout=out)
    key = Token.objects.get(user=bob).key
    assert key in out.getvalue()

    client = rest_client(enforce_csrf_checks=True)
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get(f"{LIST}unread-count/").json() == {"count": 1}
    [n] = Notification.objects.all()
    # No CSRF token is needed (nor possible) without a session.
    response = client.post(f"{LIST}mark-read/", {"ids": [n.pk]}, format="json")
    assert response.status_code == 200
    assert response.json() == {"ids": [n.pk], "unread_count": 0}


def test_inactive_users_token_is_refused(rest_client: Any, bob: Any) -> None:
    key = Token.objects.create(user=bob).key
    bob.is_active = False
    bob.save()
    client = rest_client()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    response = client.get(LIST)
    assert response.status_code == 401
    assert response.json() == {"detail": "User inactive or deleted."}


@pytest.mark.parametrize(("method", "url", "body"), [e for e in ENDPOINTS if e[0] != "get"])
def test_session_write_without_csrf_token_is_refused(
    rest_client: Any, bob: Any, method: str, url: str, body: Any
) -> None:
    client = rest_client(bob, enforce_csrf_checks=True)
    response = call(client, method, url, body)
    assert response.status_code == 403
    assert response.json()["detail"].startswith("CSRF Failed")
    assert Notification.objects.count() == 1
    assert Notification.objects.unread().count() == 1


def test_session_write_with_csrf_token_from_the_cookie(rest_client: Any, bob: Any) -> None:
    client = rest_client(bob, enforce_csrf_checks=True)
    client.get("/client/")  # the page sets the csrftoken cookie, as in a browser
    token = client.cookies["csrftoken"].value
    [n] = Notification.objects.all()
    response = client.post(
        f"{LIST}mark-read/", {"ids": [n.pk]}, format="json", HTTP_X_CSRFTOKEN=token
    )
    assert response.status_code == 200
    assert response.json() == {"ids": [n.pk], "unread_count": 0}
    response = client.delete(f"{LIST}{n.pk}/", HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 204


def test_session_reads_need_no_csrf_token(rest_client: Any, bob: Any) -> None:
    client = rest_client(bob, enforce_csrf_checks=True)
    assert client.get(f"{LIST}unread-count/").json() == {"count": 1}


@pytest.mark.parametrize(("method", "url", "body"), ENDPOINTS)
def test_secure_with_empty_rest_framework_settings(
    rest_client: Any, bob: Any, settings: Any, method: str, url: str, body: Any
) -> None:
    # DRF's own defaults are AllowAny and session + HTTP Basic: livebell must not use them.
    settings.REST_FRAMEWORK = {}
    assert call(rest_client(), method, url, body).status_code == 401
    client = rest_client()
    client.credentials(HTTP_AUTHORIZATION="Basic " + "Ym9iOnB3")  # bob:pw
    assert call(client, method, url, body).status_code == 401
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=bob).key}")
    assert call(client, method, url, body).status_code in (200, 204, 404)


def test_project_authentication_classes_are_followed(
    rest_client: Any, bob: Any, settings: Any
) -> None:
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.SessionAuthentication"],
    }
    assert auth.authentication_classes() == [SessionAuthentication]
    client = rest_client()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=bob).key}")
    # Session first: an unauthenticated request is 403 (no WWW-Authenticate to offer).
    assert client.get(LIST).status_code == 403
    assert rest_client(bob).get(f"{LIST}unread-count/").json() == {"count": 1}


def test_default_authentication_classes(monkeypatch: Any) -> None:
    assert auth.authentication_classes() == [TokenAuthentication, SessionAuthentication]
    # Without rest_framework.authtoken its Token model cannot be used: session only.
    monkeypatch.setattr(auth.apps, "is_installed", lambda name: False)
    assert auth.authentication_classes() == [SessionAuthentication]
