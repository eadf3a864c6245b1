"""Users' choices of which notification types reach them, on which channel.

A type (:mod:`livebell.types`) has a default for each channel (``in_app``,
``email``, ``web_push``); a user's :class:`~livebell.models.Preference` row
overrides it. ``notify()`` stores a typed notification only for the recipients
whose in-app channel is on, looked up in bulk (one query per 1,000 recipients).
livebell delivers in-app only; a site that sends email or web push asks
:func:`recipients_with` which of its users want them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, TypedDict

from django.db import transaction

from livebell import types
from livebell.models import Channel, Preference

__all__ = [
    "ChoiceError",
    "TypeChoices",
    "choices",
    "enabled",
    "recipients_with",
    "set_choice",
    "set_choices",
]

# Recipients looked up per query.
CHUNK = 1000


class ChoiceError(ValueError):
    """A preference that cannot be set: unknown type or channel, or a type users may
    not turn off."""


class TypeChoices(TypedDict):
    """One type as a user's preferences page shows it."""

    type: str
    label: str
    optional: bool
    channels: dict[str, bool]


def recipients_with(type_key: str, channel: str, user_ids: Sequence[Any]) -> list[Any]:
    """The users among ``user_ids`` (in their order) for whom ``channel`` is on.

    One query per 1,000 users, whatever their preferences. A type users may not
    turn off is on for everyone.

    Raises:
        livebell.types.UnknownType: ``type_key`` is not registered.
        ChoiceError: ``channel`` is not a channel.
    """
    kind = types.get(type_key)
    _check_channel(channel)
    if not kind.optional:
        return list(user_ids)
    default = kind.default(channel)
    # Only the users who chose the opposite of the default are looked up.
    opposite: set[Any] = set()
    for start in range(0, len(user_ids), CHUNK):
        opposite.update(
            Preference.objects.filter(
                type=type_key,
                channel=channel,
                enabled=not default,
                user_id__in=user_ids[start : start + CHUNK],
            ).values_list("user_id", flat=True)
        )
    return [u for u in user_ids if (u in opposite) != default]


def enabled(user: Any, type_key: str, channel: str = Channel.IN_APP) -> bool:
    """Whether ``channel`` is on for ``user`` and this type."""
    user_id = getattr(user, "pk", user)
    return bool(recipients_with(type_key, channel, [user_id]))


def choices(user: Any) -> list[TypeChoices]:
    """Every registered type with the user's effective choice on each channel."""
    user_id = getattr(user, "pk", user)
    chosen = {
        (row.type, row.channel): row.enabled
        for row in Preference.objects.filter(user_id=user_id).only("type", "channel", "enabled")
    }
    return [
        {
            "type": kind.key,
            "label": str(kind.label),
            "optional": kind.optional,
            "channels": {
                channel: (
                    chosen.get((kind.key, channel), kind.default(channel))
                    if kind.optional
                    else kind.default(channel)
                )
                for channel in types.CHANNELS
            },
        }
        for kind in types.all_types()
    ]


def set_choice(user: Any, type_key: str, channel: str, on: bool) -> None:
    """Turn ``channel`` on or off for ``user`` and this type.

    Raises:
        ChoiceError: an unknown type or channel, or a type users may not turn off.
    """
    set_choices(user, [(type_key, channel, on)])


def set_choices(user: Any, changes: Iterable[tuple[str, str, bool]]) -> None:
    """Several :func:`set_choice` at once, all or none.

    Raises:
        ChoiceError: as :func:`set_choice`; nothing is changed then.
    """
    user_id = getattr(user, "pk", user)
    checked = []
    for type_key, channel, on in changes:
        try:
            kind = types.get(type_key)
        except types.UnknownType as exc:
            raise ChoiceError(str(exc)) from None
        _check_channel(channel)
        if not kind.optional:
            raise ChoiceError(f"Notification type {type_key!r} cannot be turned off.")
        checked.append((type_key, channel, bool(on)))
    with transaction.atomic():
        for type_key, channel, on in checked:
            Preference.objects.update_or_create(
                user_id=user_id, type=type_key, channel=channel, defaults={"enabled": on}
            )


def _check_channel(channel: str) -> None:
    if channel not in types.CHANNELS:
        raise ChoiceError(f"Unknown channel {channel!r}; known: {', '.join(types.CHANNELS)}.")
