"""System checks for settings that would make livebell fail at run time."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, register

from livebell.conf import livebell_settings


@register()
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """``LIVEBELL`` must be a dict of known keys."""
    try:
        livebell_settings.reload()
        livebell_settings.CHANNEL_LAYER  # noqa: B018 - loading validates the dict
    except (TypeError, KeyError) as exc:
        return [Error(str(exc).strip("'\""), id="livebell.E001")]
    return []


@register()
def check_channel_layer(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """The channel layer livebell pushes through must be configured and constructible."""
    try:
        alias = livebell_settings.CHANNEL_LAYER
    except (TypeError, KeyError):
        return []  # reported by check_settings
    layers = getattr(settings, "CHANNEL_LAYERS", None)
    if not layers or alias not in layers:
        return [
            Error(
                f"CHANNEL_LAYERS has no {alias!r} layer, so notifications cannot be pushed.",
                hint=(
                    'Add CHANNEL_LAYERS = {"default": {"BACKEND": '
                    '"channels.layers.InMemoryChannelLayer"}} for one process, or '
                    '"channels_redis.pubsub.RedisPubSubChannelLayer" for several.'
                ),
                id="livebell.E002",
            )
        ]
    from channels.layers import channel_layers

    try:
        channel_layers.make_backend(alias)
    except Exception as exc:
        return [
            Error(
                f"CHANNEL_LAYERS[{alias!r}] cannot be used: {exc}",
                hint="Check BACKEND is an importable dotted path and CONFIG its keyword args.",
                id="livebell.E003",
            )
        ]
    return []


@register()
def check_types(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """``LIVEBELL["TYPES"]`` must declare valid notification types."""
    from livebell import types

    try:
        types.all_types()
    except (TypeError, KeyError):
        return []  # reported by check_settings
    except ValueError as exc:
        return [
            Error(
                f'LIVEBELL["TYPES"] is invalid: {exc}',
                hint="Each entry takes the keyword arguments of livebell.types.register().",
                id="livebell.E004",
            )
        ]
    return []


@register()
def check_group_prefix(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """An explicit ``LIVEBELL["GROUP_PREFIX"]`` must keep group names valid for Channels."""
    from livebell.groups import PREFIX_MAX_LENGTH, is_valid_prefix

    try:
        prefix = livebell_settings.GROUP_PREFIX
    except (TypeError, KeyError):
        return []  # reported by check_settings
    if prefix is None or is_valid_prefix(prefix):
        return []
    return [
        Error(
            f'LIVEBELL["GROUP_PREFIX"] = {prefix!r} would make group names Channels refuses.',
            hint=(
                f"Use at most {PREFIX_MAX_LENGTH} ASCII letters, digits, '_', '.' or '-', "
                "or leave it out: each site then gets a prefix of its own."
            ),
            id="livebell.E005",
        )
    ]
