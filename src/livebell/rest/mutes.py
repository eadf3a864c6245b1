"""``mutes/``: the objects the user muted (``GET``), mute one (``POST``), unmute (``DELETE``)."""

from __future__ import annotations

from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from livebell import mutes
from livebell.models import Mute
from livebell.rest.errors import InvalidRequest, error_responses
from livebell.rest.serializers import MuteSerializer
from livebell.rest.views import TAGS, InboxView, id_parameter, path_id, validated_body

__all__ = ["MuteDetailView", "MuteListView"]


def _shape(mute: Mute) -> dict[str, Any]:
    content_type = ContentType.objects.get_for_id(mute.target_content_type_id)
    return {
        "id": mute.pk,
        "target": {
            "type": f"{content_type.app_label}.{content_type.model}",
            "id": mute.target_object_id,
        },
        "until": mute.until,
        "created_at": mute.created_at,
    }


class MuteListView(InboxView):
    """``GET mutes/`` (the user's, newest first) and ``POST mutes/`` (mute one)."""

    @extend_schema(
        operation_id="notifications_mutes",
        tags=TAGS,
        summary="List the objects the user muted",
        description="Mutes that ended are not listed.",
        responses={200: MuteSerializer(many=True), **error_responses({})},
    )
    def get(self, request: Request) -> Response:
        user: Any = request.user  # authenticated: IsAuthenticated
        mine = Mute.objects.filter(user=user).order_by("-id")[: mutes.MAX_MUTES]
        active = [m for m in mine if m.until is None or m.until > timezone.now()]
        return Response(MuteSerializer([_shape(m) for m in active], many=True).data)

    @extend_schema(
        operation_id="notifications_mute",
        tags=TAGS,
        summary="Mute an object",
        description='`{"target": {"type": "qa.question", "id": "7"}, "until": null}`: no '
        "notification about it is stored for the user until `until` (null: until "
        "unmuted). Muting a muted object changes `until`. The object's existence is not "
        "checked: a mute of an object that does not exist mutes nothing.",
        request=MuteSerializer,
        responses={
            201: MuteSerializer,
            **error_responses(
                {
                    400: "Not a JSON object, an unknown target type, an `until` in the "
                    "past, or too many mutes; `detail` says which.",
                    415: "The body is not `application/json`.",
                }
            ),
        },
    )
    def post(self, request: Request) -> Response:
        body = validated_body(
            request, MuteSerializer, example='{"target": {"type": "qa.question", "id": "7"}}'
        )
        app_label, model = body["target"]["type"].split(".", 1)
        try:
            content_type = ContentType.objects.get_by_natural_key(app_label, model)
        except ContentType.DoesNotExist:
            raise InvalidRequest(f"Unknown target type {body['target']['type']!r}.") from None
        try:
            mute = mutes.mute_key(
                request.user, content_type, body["target"]["id"], body.get("until")
            )
        except mutes.MuteError as exc:
            raise InvalidRequest(str(exc)) from None
        return Response(MuteSerializer(_shape(mute)).data, status=201)


class MuteDetailView(InboxView):
    """``DELETE mutes/<id>/``: unmute."""

    @extend_schema(
        operation_id="notifications_unmute",
        tags=TAGS,
        summary="Unmute an object",
        parameters=[id_parameter("The mute's id.")],
        responses={
            204: OpenApiResponse(description="Unmuted."),
            **error_responses({404: "No such mute of this user."}),
        },
    )
    def delete(self, request: Request, id: str) -> Response:
        pk = path_id(id)
        user: Any = request.user
        deleted, _ = Mute.objects.filter(user=user, pk=pk).delete()
        if not deleted:
            raise NotFound()
        return Response(status=204)
