"""Shapes of the REST API's bodies.

A notification is serialised by :func:`livebell.payloads.notification_payload`,
the builder the socket uses, so both send the very same object. The fields
declared on :class:`NotificationSerializer` only describe that object in the
OpenAPI schema (a test keeps them equal to ``NotificationPayload``'s keys).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db import models
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.plumbing import build_basic_type
from drf_spectacular.types import OpenApiTypes
from rest_framework import serializers

from livebell.ids import MAX_ID, MAX_IDS, InvalidId, parse_id, parse_ids
from livebell.models import VERB_MAX_LENGTH, Channel, Level, Notification
from livebell.payloads import notification_payload

__all__ = [
    "ActorSerializer",
    "ChoicesRequestSerializer",
    "IdsRequestSerializer",
    "IdsResultSerializer",
    "MarkAllReadRequestSerializer",
    "MarkAllReadResultSerializer",
    "MuteSerializer",
    "MuteTargetSerializer",
    "NotificationIdField",
    "NotificationIdsField",
    "NotificationSerializer",
    "PreferenceChoiceSerializer",
    "SocketTicketSerializer",
    "TargetSerializer",
    "TypeChoicesSerializer",
    "UnreadCountSerializer",
]


class UserPrimaryKeyField(serializers.ReadOnlyField):
    """A user's primary key, typed in the schema after the project's user model."""


class UserPrimaryKeyFieldExtension(OpenApiSerializerFieldExtension):  # type: ignore[no-untyped-call]
    """Documents :class:`UserPrimaryKeyField` as an integer, a UUID or a string.

    The user model is swappable, so its key's type is only known in the project.
    """

    target_class = UserPrimaryKeyField

    def map_serializer_field(self, auto_schema: Any, direction: Any) -> Any:
        pk = get_user_model()._meta.pk
        # A key that is a one-to-one link (multi-table inheritance) has the parent's type.
        while isinstance(pk, models.ForeignKey):
            pk = pk.target_field
        if isinstance(pk, models.IntegerField):  # AutoField and BigAutoField included
            return build_basic_type(OpenApiTypes.INT)
        if isinstance(pk, models.UUIDField):
            return build_basic_type(OpenApiTypes.UUID)
        return build_basic_type(OpenApiTypes.STR)


class ActorSerializer(serializers.Serializer[Any]):
    """The user who acted."""

    id = UserPrimaryKeyField(
        allow_null=True,
        help_text="The actor's primary key (a string unless an integer); null for a deleted "
        "account.",
    )
    username = serializers.CharField(
        read_only=True,
        help_text="The current username; a deleted account is a “ghost” (in the reader's "
        "language).",
    )


class TargetSerializer(serializers.Serializer[Any]):
    """What was acted upon, as stored when the notification was made."""

    type = serializers.CharField(read_only=True, help_text="`app_label.model`, e.g. `blog.post`.")
    id = serializers.CharField(read_only=True, help_text="The target's primary key, as a string.")
    text = serializers.CharField(read_only=True, help_text="The target's `str()`.")
    url = serializers.CharField(
        read_only=True, help_text="The target's `get_absolute_url()`, or an empty string."
    )


class NotificationSerializer(serializers.Serializer[Notification]):
    """One notification: the very object the socket's `notification` frame carries."""

    # The class docstrings of these serializers are their descriptions in the schema.

    id = serializers.IntegerField(read_only=True, help_text="Increases in creation order.")
    type = serializers.CharField(
        read_only=True,
        allow_null=True,
        help_text="The registered notification type's key (see docs/types.md), or null.",
    )
    verb = serializers.CharField(
        read_only=True, max_length=VERB_MAX_LENGTH, help_text="What happened."
    )
    text = serializers.CharField(
        read_only=True,
        help_text="The whole sentence, plain text, in the request's language: what a "
        "reader sees (e.g. `alice answered your question “How do I …”`).",
    )
    actor = ActorSerializer(read_only=True, allow_null=True)
    actors = ActorSerializer(
        many=True,
        read_only=True,
        help_text="The latest actors, newest first (several when notifications merged).",
    )
    count = serializers.IntegerField(
        read_only=True, min_value=1, help_text="How many notifications this one stands for."
    )
    group = serializers.IntegerField(
        read_only=True,
        allow_null=True,
        help_text="The id of the first notification of its group: this one replaces any "
        "notification of the same group (or with this id) that a client shows.",
    )
    target = TargetSerializer(read_only=True, allow_null=True)
    level = serializers.ChoiceField(choices=Level.choices, read_only=True)
    # The metaclass moves declared fields out of the class, so ``.data`` stays the output.
    data = serializers.DictField(  # type: ignore[assignment]
        read_only=True, help_text="Extra values from the sender."
    )
    created_at = serializers.DateTimeField(read_only=True)
    unread = serializers.BooleanField(read_only=True)

    def to_representation(self, instance: Notification) -> dict[str, Any]:
        """Delegate to the one builder of the wire object."""
        return dict(notification_payload(instance))


class UnreadCountSerializer(serializers.Serializer[Any]):
    """The user's unread total."""

    count = serializers.IntegerField(min_value=0)


class NotificationIdsField(serializers.ListField):
    """A list of notification ids, read by :func:`livebell.ids.parse_ids` (the socket's rules):
    at most ``MAX_IDS`` JSON integers from 1 to ``MAX_ID``; sorted, without duplicates.

    DRF's own ``IntegerField`` would also take ``"5"``, ``5.0`` and ``true``.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            child=serializers.IntegerField(min_value=1, max_value=MAX_ID),
            max_length=MAX_IDS,
            **kwargs,
        )

    def to_internal_value(self, data: Any) -> list[int]:
        try:
            return parse_ids(data, name=self.field_name or "ids")
        except InvalidId as exc:
            raise serializers.ValidationError(str(exc)) from None


class NotificationIdField(serializers.IntegerField):
    """One notification id, read by :func:`livebell.ids.parse_id`: a JSON integer from 1
    to ``MAX_ID``."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(min_value=1, max_value=MAX_ID, **kwargs)

    def to_internal_value(self, data: Any) -> int:
        try:
            return parse_id(data, name=self.field_name or "id")
        except InvalidId as exc:
            raise serializers.ValidationError(str(exc)) from None


class IdsRequestSerializer(serializers.Serializer[Any]):
    """The notifications to change."""

    ids = NotificationIdsField(
        help_text=f"Notification ids, at most {MAX_IDS}. Ids that are not the user's "
        "are ignored exactly like ids that do not exist.",
        error_messages={
            "required": 'The body needs "ids": a list of notification ids.',
            "null": "ids must be a list of integers, got None.",
        },
    )


class IdsResultSerializer(serializers.Serializer[Any]):
    """What changed."""

    ids = serializers.ListField(
        child=serializers.IntegerField(),
        help_text="The ids whose state changed, ascending; the others already had that "
        "state or are not the user's.",
    )
    unread_count = serializers.IntegerField(min_value=0, help_text="The user's unread total now.")


class MarkAllReadRequestSerializer(serializers.Serializer[Any]):
    """Optional: which notifications to mark read."""

    before_id = NotificationIdField(
        required=False,
        allow_null=True,
        help_text="Mark only notifications with id <= before_id: pass the newest id "
        "the user has seen, so what arrived since stays unread. Omitted or null: all.",
    )


class MarkAllReadResultSerializer(serializers.Serializer[Any]):
    """What changed."""

    marked = serializers.IntegerField(min_value=0, help_text="How many became read.")
    unread_count = serializers.IntegerField(min_value=0, help_text="The user's unread total now.")


class SocketTicketSerializer(serializers.Serializer[Any]):
    """A socket ticket: open `ws/notifications/?ticket=<ticket>` before it expires."""

    ticket = serializers.CharField(help_text="Single-use; put it in the socket's query string.")
    expires_in = serializers.IntegerField(
        min_value=1, help_text="Seconds until the ticket can no longer be used."
    )


class TypeChoicesSerializer(serializers.Serializer[Any]):
    """One notification type and the user's choice on each channel."""

    type = serializers.CharField(read_only=True, help_text="The type's key.")
    # The metaclass moves declared fields out of the class: ``label`` stays the serializer's.
    label = serializers.CharField(  # type: ignore[assignment]
        read_only=True, help_text="What the type is, for people."
    )
    optional = serializers.BooleanField(
        read_only=True, help_text="Whether the user may turn it off."
    )
    channels = serializers.DictField(
        child=serializers.BooleanField(),
        read_only=True,
        help_text="`in_app`, `email`, `web_push`: on or off for this user.",
    )


class PreferenceChoiceSerializer(serializers.Serializer[Any]):
    """One choice to change."""

    type = serializers.CharField(max_length=100)
    channel = serializers.ChoiceField(choices=Channel.choices)
    enabled = serializers.BooleanField()


class ChoicesRequestSerializer(serializers.Serializer[Any]):
    """The choices to change, all or none."""

    # ListSerializer takes max_length since DRF 3.15; the stubs do not know it yet.
    choices = PreferenceChoiceSerializer(  # type: ignore[call-arg]
        many=True, max_length=100, allow_empty=False
    )


class MuteTargetSerializer(serializers.Serializer[Any]):
    """What is muted: as a notification's `target` names it."""

    type = serializers.RegexField(
        r"^[a-z0-9_]+\.[a-z0-9_]+$",
        max_length=201,
        help_text="`app_label.model`, e.g. `qa.question`.",
    )
    id = serializers.CharField(min_length=1, max_length=64, help_text="The object's primary key.")


class MuteSerializer(serializers.Serializer[Any]):
    """A muted object: no notification about it is stored for the user until `until`."""

    id = serializers.IntegerField(read_only=True)
    target = MuteTargetSerializer()
    until = serializers.DateTimeField(
        allow_null=True, required=False, help_text="When the mute ends; null: until unmuted."
    )
    created_at = serializers.DateTimeField(read_only=True)
