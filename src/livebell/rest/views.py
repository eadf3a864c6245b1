"""The inbox endpoints. Each acts on ``request.user``'s own notifications only.

Changes go through :mod:`livebell.inbox`, which also tells every open socket of
the user after the transaction commits, so other tabs update their badge.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework.authentication import (
    BaseAuthentication,
    SessionAuthentication,
    TokenAuthentication,
)
from rest_framework.exceptions import NotFound
from rest_framework.generics import ListAPIView
from rest_framework.permissions import SAFE_METHODS, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from livebell import inbox
from livebell.conf import livebell_settings
from livebell.ids import MAX_ID, InvalidId, parse_id
from livebell.live import tickets
from livebell.models import Notification
from livebell.rest.auth import authentication_classes
from livebell.rest.errors import InvalidRequest, error_responses
from livebell.rest.filters import NotificationFilter
from livebell.rest.pagination import NotificationCursorPagination
from livebell.rest.parsers import BoundedJSONParser
from livebell.rest.serializers import (
    IdsRequestSerializer,
    IdsResultSerializer,
    MarkAllReadRequestSerializer,
    MarkAllReadResultSerializer,
    NotificationSerializer,
    SocketTicketSerializer,
    UnreadCountSerializer,
)

__all__ = [
    "MarkAllReadView",
    "MarkReadView",
    "MarkUnreadView",
    "NotificationDetailView",
    "NotificationListView",
    "SocketTicketView",
    "UnreadCountView",
]

TAGS = ["notifications"]

# Error responses of the write endpoints' bodies.
_BODY_ERRORS = {
    400: "The body is not valid JSON or not a JSON object, or a value is invalid; "
    "`detail` says which.",
    415: "The body is not `application/json`.",
}


class InboxView(APIView):
    """Base of every livebell endpoint: an authenticated user is required, whatever
    the project's ``REST_FRAMEWORK`` defaults (see :mod:`livebell.rest.auth`), and
    every body is read by the one bounded parser (:mod:`livebell.rest.parsers`)."""

    permission_classes = (IsAuthenticated,)
    parser_classes = (BoundedJSONParser,)

    def get_authenticators(self) -> list[BaseAuthentication]:
        return [authenticator() for authenticator in authentication_classes()]

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        """Authenticate, check permissions, then parse the body of every write.

        Also where the endpoint does not read it (``DELETE``, ``socket-ticket/``): a
        body sent to the API is bounded JSON or refused, on every endpoint alike.
        """
        super().initial(request, *args, **kwargs)
        if request.method not in SAFE_METHODS:
            request.data  # noqa: B018 (parsed for its errors; DRF keeps the result)


def validated_body(request: Request, serializer_class: Any, *, example: str) -> dict[str, Any]:
    """The request's JSON object, validated by ``serializer_class``.

    Raises:
        InvalidRequest: the body is not a JSON object, or a value is invalid; the
            message names the value (the API's one ``{"detail": ...}`` error shape).
    """
    if not isinstance(request.data, Mapping):
        raise InvalidRequest(f"The body must be a JSON object, e.g. {example}.")
    serializer = serializer_class(data=request.data)
    if not serializer.is_valid():
        raise InvalidRequest(_first_error(serializer.errors))
    data: dict[str, Any] = serializer.validated_data
    return data


def _first_error(errors: Any, path: str = "") -> str:
    """The first message of DRF's nested errors; a nested field's message names its path."""
    if isinstance(errors, Mapping):
        name, nested = next(iter(errors.items()))
        here = path if name == "non_field_errors" else f"{path}.{name}".lstrip(".")
        return _first_error(nested, here)
    if isinstance(errors, list):
        first = next((e for e in errors if e), errors[0] if errors else "")
        return _first_error(first, path)
    message = str(errors)
    # Our own validators name the field already; DRF's generic messages do not.
    return f"{path}: {message}" if path and "." in path else message


class NotificationListView(InboxView, ListAPIView):  # type: ignore[type-arg]
    """``GET /`` — the user's notifications, newest first, a cursor page at a time."""

    serializer_class = NotificationSerializer
    pagination_class = NotificationCursorPagination
    filter_backends = (NotificationFilter,)

    def get_queryset(self) -> QuerySet[Notification]:
        # with_related() joins the actor: a page costs one query whatever its size.
        return Notification.objects.for_user(self.request.user).with_related()

    @extend_schema(
        operation_id="notifications_list",
        tags=TAGS,
        summary="List the user's notifications, newest first",
        description="A page of notifications, newest first. Follow `next` for older ones: "
        "cursors stay exact while new notifications arrive.",
        responses={
            200: NotificationSerializer(many=True),
            **error_responses(
                {
                    400: "A filter or page_size value is invalid; `detail` says which.",
                    404: "The cursor is invalid (not one from a next or previous link).",
                }
            ),
        },
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class UnreadCountView(InboxView):
    """``GET unread-count/`` — ``{"count": N}``."""

    @extend_schema(
        operation_id="notifications_unread_count",
        tags=TAGS,
        summary="Count the user's unread notifications",
        description='`{"count": N}`, the number the bell shows.',
        responses={200: UnreadCountSerializer, **error_responses({})},
    )
    def get(self, request: Request) -> Response:
        return Response({"count": inbox.unread_count(request.user)})


class _ChangeIdsView(InboxView):
    """Apply one of :mod:`livebell.inbox`'s id-list changes to the body's ``ids``."""

    @staticmethod
    def change(user: Any, ids: list[int]) -> list[int]:
        raise NotImplementedError

    def post(self, request: Request) -> Response:
        ids = validated_body(request, IdsRequestSerializer, example='{"ids": [1, 2]}')["ids"]
        changed = self.change(request.user, ids)
        return Response({"ids": changed, "unread_count": inbox.unread_count(request.user)})


def _ids_schema(event: str, **kwargs: Any) -> Any:
    """The schema of a ``_ChangeIdsView``'s POST, which pushes ``event`` to the sockets."""
    return extend_schema_view(
        post=extend_schema(
            tags=TAGS,
            description="Every open socket of the user then receives "
            f'`{{"type": "{event}", "ids": [...], "unread_count": N}}`.',
            request=IdsRequestSerializer,
            responses={200: IdsResultSerializer, **error_responses(_BODY_ERRORS)},
            **kwargs,
        )
    )


@_ids_schema("read", operation_id="notifications_mark_read", summary="Mark notifications read")
class MarkReadView(_ChangeIdsView):
    """``POST mark-read/`` with ``{"ids": [...]}``."""

    change = staticmethod(inbox.mark_read)


@_ids_schema(
    "unread", operation_id="notifications_mark_unread", summary="Mark notifications unread"
)
class MarkUnreadView(_ChangeIdsView):
    """``POST mark-unread/`` with ``{"ids": [...]}``."""

    change = staticmethod(inbox.mark_unread)


class MarkAllReadView(InboxView):
    """``POST mark-all-read/``, optionally with ``{"before_id": N}``."""

    @extend_schema(
        operation_id="notifications_mark_all_read",
        tags=TAGS,
        summary="Mark all notifications read (up to before_id)",
        description="The body is optional. Every open socket of the user then receives "
        '`{"type": "read", "ids": "all", "before_id": N|null, "unread_count": N}`.',
        request=MarkAllReadRequestSerializer,
        responses={200: MarkAllReadResultSerializer, **error_responses(_BODY_ERRORS)},
    )
    def post(self, request: Request) -> Response:
        body = validated_body(request, MarkAllReadRequestSerializer, example='{"before_id": 42}')
        marked = inbox.mark_all_read(request.user, before_id=body.get("before_id"))
        return Response({"marked": marked, "unread_count": inbox.unread_count(request.user)})


class SocketTicketView(InboxView):
    """``POST socket-ticket/`` — a single-use ticket to open the socket without cookies."""

    @extend_schema(
        operation_id="notifications_socket_ticket",
        tags=TAGS,
        summary="Get a ticket to open the notification socket",
        description="For clients without the site's cookies (mobile apps, scripts): "
        "connect to `ws/notifications/?ticket=<ticket>` within `expires_in` seconds. "
        "The ticket works once, only for this user, and only while the session or "
        "token this request was made with is valid. No body is needed.",
        request=None,
        responses={
            200: SocketTicketSerializer,
            **error_responses(
                {400: "The request was authenticated otherwise than by session or token."}
            ),
        },
    )
    def post(self, request: Request) -> Response:
        token = getattr(request.auth, "key", None)
        session_key = getattr(getattr(request, "session", None), "session_key", None)
        if isinstance(request.successful_authenticator, TokenAuthentication) and token:
            ticket = tickets.issue(request.user, token_key=token)
        elif isinstance(request.successful_authenticator, SessionAuthentication) and session_key:
            ticket = tickets.issue(request.user, session_key=session_key)
        else:
            # The ticket must be bound to a credential livebell can check again later.
            raise InvalidRequest("Socket tickets need session or token authentication.")
        max_age = int(livebell_settings.TICKET_MAX_AGE_SECONDS)
        return Response({"ticket": ticket, "expires_in": max_age})


def id_parameter(description: str) -> OpenApiParameter:
    """The ``<id>`` of a detail route, as the schema states it."""
    return OpenApiParameter(
        "id",
        {"type": "integer", "minimum": 1, "maximum": MAX_ID, "format": "int64"},
        OpenApiParameter.PATH,
        description=description,
    )


def path_id(id: str) -> int:
    """The id a detail route was given; a malformed or out-of-range one is a 404, answered
    like an id that is not the user's."""
    try:
        return parse_id(id, text=True)
    except InvalidId:
        raise NotFound() from None


class NotificationDetailView(InboxView):
    """``DELETE <id>/`` — 204, or 404 for an id that is not the user's or does not exist."""

    @extend_schema(
        operation_id="notifications_destroy",
        tags=TAGS,
        summary="Delete a notification",
        description="Every open socket of the user then receives "
        '`{"type": "deleted", "ids": [id], "unread_count": N}`.',
        parameters=[id_parameter("The notification's id.")],
        responses={
            204: OpenApiResponse(description="Deleted."),
            **error_responses(
                {
                    404: "No such notification of this user. Another user's id is "
                    "answered exactly like an id that does not exist.",
                }
            ),
        },
    )
    def delete(self, request: Request, id: str) -> Response:
        # Malformed, out of range, another user's or gone: the same 404.
        pk = path_id(id)
        if not inbox.delete(request.user, [pk]):
            raise NotFound()
        return Response(status=204)
