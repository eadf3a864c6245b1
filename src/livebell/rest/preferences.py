"""``GET`` and ``PATCH preferences/``: which notification types reach the user, per channel."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from livebell import preferences
from livebell.rest.errors import InvalidRequest, error_responses
from livebell.rest.serializers import ChoicesRequestSerializer, TypeChoicesSerializer
from livebell.rest.views import TAGS, InboxView, validated_body

__all__ = ["PreferencesView"]


class PreferencesView(InboxView):
    """``GET preferences/``: every type with the user's choices; ``PATCH`` to change some."""

    @extend_schema(
        operation_id="notifications_preferences",
        tags=TAGS,
        summary="List the notification types and the user's choices",
        description="Every registered notification type with, for each channel, whether "
        "it is on for this user (the type's default unless the user chose).",
        responses={200: TypeChoicesSerializer(many=True), **error_responses({})},
    )
    def get(self, request: Request) -> Response:
        return Response(preferences.choices(request.user))

    @extend_schema(
        operation_id="notifications_preferences_update",
        tags=TAGS,
        summary="Change some of the user's choices",
        description='`{"choices": [{"type": "answer.created", "channel": "email", '
        '"enabled": true}]}`: all or none. Answers the whole list, as `GET` does.',
        request=ChoicesRequestSerializer,
        responses={
            200: TypeChoicesSerializer(many=True),
            **error_responses(
                {
                    400: "Not a JSON object, an unknown type or channel, or a type users "
                    "may not turn off; `detail` says which.",
                    415: "The body is not `application/json`.",
                }
            ),
        },
    )
    def patch(self, request: Request) -> Response:
        body = validated_body(
            request,
            ChoicesRequestSerializer,
            example='{"choices": [{"type": "post.liked", "channel": "email", "enabled": true}]}',
        )
        changes: list[Any] = [(c["type"], c["channel"], c["enabled"]) for c in body["choices"]]
        try:
            preferences.set_choices(request.user, changes)
        except preferences.ChoiceError as exc:
            raise InvalidRequest(str(exc)) from None
        return Response(preferences.choices(request.user))
