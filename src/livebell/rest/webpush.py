"""``webpush/``: the user's devices for Web Push, and a tab's "received live".

``GET webpush/subscriptions/`` lists the user's devices, ``POST`` subscribes one (the
browser's ``PushSubscription.toJSON()``), ``DELETE webpush/subscriptions/<id>/``
forgets one; ``POST webpush/received/`` says an open tab received notifications live
(they are then not pushed). A user only ever sees and changes their own devices.
See :mod:`livebell.reach.webpush` and docs/web-push.md.
"""

from __future__ import annotations

from typing import Any

from django.utils import translation
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from livebell.ids import MAX_IDS
from livebell.models import WEB_PUSH_ENDPOINT_MAX_LENGTH, WebPushSubscription
from livebell.reach import webpush
from livebell.rest.errors import InvalidRequest, error_responses
from livebell.rest.serializers import NotificationIdField, NotificationIdsField
from livebell.rest.views import TAGS, InboxView, id_parameter, path_id, validated_body

__all__ = ["WebPushReceivedView", "WebPushSubscriptionDetailView", "WebPushSubscriptionListView"]


class WebPushKeysSerializer(serializers.Serializer[Any]):
    """The browser's keys that encrypt each push."""

    p256dh = serializers.CharField(max_length=128, help_text="P-256 public key, base64url.")
    auth = serializers.CharField(max_length=64, help_text="16-byte auth secret, base64url.")


class WebPushSubscribeSerializer(serializers.Serializer[Any]):
    """A device to push to: the browser's ``PushSubscription.toJSON()``."""

    endpoint = serializers.CharField(
        max_length=WEB_PUSH_ENDPOINT_MAX_LENGTH,
        help_text="The push service's URL for this device.",
        error_messages={
            "required": 'The body needs "endpoint": the push service\'s URL.',
            "max_length": f"endpoint must be at most {WEB_PUSH_ENDPOINT_MAX_LENGTH} characters.",
        },
    )
    keys = WebPushKeysSerializer(
        error_messages={"required": 'The body needs "keys": {{"p256dh": …, "auth": …}}.'}
    )


class WebPushSubscriptionSerializer(serializers.Serializer[Any]):
    """One of the user's devices (its endpoint and keys are not shown again)."""

    id = serializers.IntegerField(read_only=True)
    created_at = serializers.DateTimeField(read_only=True)


class WebPushReceivedSerializer(serializers.Serializer[Any]):
    """Notifications an open tab received live."""

    ids = NotificationIdsField(
        help_text=f"Notification ids, at most {MAX_IDS}; others' ids are ignored.",
        error_messages={"required": 'The body needs "ids": a list of notification ids.'},
    )
    through = NotificationIdField(
        required=False,
        help_text="A `burst` frame's `last_id`: the tab received every notification of "
        "the user up to it (the newest of them, sent in the last minutes, are noted).",
    )


def _shape(device: WebPushSubscription) -> dict[str, Any]:
    return {"id": device.pk, "created_at": device.created_at}


class WebPushSubscriptionListView(InboxView):
    """``GET webpush/subscriptions/`` (the user's devices) and ``POST`` (subscribe one)."""

    @extend_schema(
        operation_id="notifications_webpush_devices",
        tags=TAGS,
        summary="List the user's web push devices",
        responses={200: WebPushSubscriptionSerializer(many=True), **error_responses({})},
    )
    def get(self, request: Request) -> Response:
        user: Any = request.user  # authenticated: IsAuthenticated
        mine = WebPushSubscription.objects.filter(user=user).order_by("id")
        return Response(WebPushSubscriptionSerializer([_shape(d) for d in mine], many=True).data)

    @extend_schema(
        operation_id="notifications_webpush_subscribe",
        tags=TAGS,
        summary="Push notifications to this device",
        description="The body is the browser's `PushSubscription.toJSON()`. Subscribing "
        "an endpoint again refreshes it (a device another user subscribed becomes this "
        "user's). The user's oldest device is forgotten past "
        f"{webpush.MAX_SUBSCRIPTIONS}. Pushes are sent in the request's language. A device "
        "subscribed with a session is forgotten when that session logs out.",
        request=WebPushSubscribeSerializer,
        responses={
            201: WebPushSubscriptionSerializer,
            **error_responses(
                {
                    400: "Not a subscription, an endpoint of a push service this site "
                    "does not send to, or malformed keys; `detail` says which.",
                    404: "Web push is not configured on this site.",
                    413: "The body is too large.",
                    415: "The body is not `application/json`.",
                }
            ),
        },
    )
    def post(self, request: Request) -> Response:
        if not webpush.enabled():
            raise NotFound("Web push is not configured on this site.")
        body = validated_body(
            request,
            WebPushSubscribeSerializer,
            example='{"endpoint": "https://…", "keys": {"p256dh": "…", "auth": "…"}}',
        )
        try:
            device = webpush.subscribe(
                request.user,
                body["endpoint"],
                body["keys"]["p256dh"],
                body["keys"]["auth"],
                language=translation.get_language() or "",
            )
        except webpush.SubscriptionError as exc:
            raise InvalidRequest(str(exc)) from None
        session = getattr(request._request, "session", None)
        if session is not None:  # not with a token: no session ends then
            webpush.remember_in_session(session, device.pk)
        return Response(WebPushSubscriptionSerializer(_shape(device)).data, status=201)


class WebPushSubscriptionDetailView(InboxView):
    """``DELETE webpush/subscriptions/<id>/``: stop pushing to a device."""

    @extend_schema(
        operation_id="notifications_webpush_unsubscribe",
        tags=TAGS,
        summary="Stop pushing to a device",
        parameters=[id_parameter("The device's id.")],
        responses={
            204: OpenApiResponse(description="Forgotten."),
            **error_responses({404: "No such device of this user."}),
        },
    )
    def delete(self, request: Request, id: str) -> Response:
        pk = path_id(id)
        if not webpush.unsubscribe(request.user, pk):
            raise NotFound()
        return Response(status=204)


class WebPushReceivedView(InboxView):
    """``POST webpush/received/``: an open tab received these notifications live."""

    @extend_schema(
        operation_id="notifications_webpush_received",
        tags=TAGS,
        summary="Say an open tab received notifications live",
        description="They are then not pushed to the user's devices (if the push was "
        "not sent yet). Ids that are not the user's are ignored.",
        request=WebPushReceivedSerializer,
        responses={
            204: OpenApiResponse(description="Noted."),
            **error_responses(
                {
                    400: f"Not a list of at most {MAX_IDS} notification ids.",
                    413: "The body is too large.",
                    415: "The body is not `application/json`.",
                }
            ),
        },
    )
    def post(self, request: Request) -> Response:
        body = validated_body(request, WebPushReceivedSerializer, example='{"ids": [41, 42]}')
        if webpush.enabled():
            webpush.acknowledge(request.user, body["ids"], through=body.get("through"))
        return Response(status=204)
