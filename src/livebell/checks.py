"""System checks for settings that would make livebell fail at run time."""

from __future__ import annotations

import inspect
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning, register

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
    from livebell.layer.groups import PREFIX_MAX_LENGTH, is_valid_prefix

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


@register()
def check_redis_read_timeout(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """``channels_redis.core.RedisChannelLayer`` must not time out its own blocking reads.

    Each receive of that layer is a ``BZPOPMIN`` that Redis answers after up to
    ``brpop_timeout`` seconds (5). redis-py 8 gives every connection a 5-second read
    timeout by default, so an idle receive fails with ``TimeoutError`` instead: the
    process's hub logs a failure, drops the connection and joins its groups again,
    and a message popped as the client gave up is lost.
    """
    try:
        alias = livebell_settings.CHANNEL_LAYER
    except (TypeError, KeyError):
        return []  # reported by check_settings
    try:
        from channels.layers import channel_layers
        from channels_redis.core import RedisChannelLayer
        from channels_redis.utils import create_pool

        layer = channel_layers.make_backend(alias)
    except Exception:
        return []  # no channels_redis, or reported by check_channel_layer
    if not isinstance(layer, RedisChannelLayer):
        return []
    for host in layer.hosts:
        pool = create_pool(host)  # no connection is made
        timeout = pool.connection_kwargs.get(
            "socket_timeout", _default_socket_timeout(pool.connection_class)
        )
        if timeout is not None and timeout <= layer.brpop_timeout:
            return [
                Warning(
                    f"CHANNEL_LAYERS[{alias!r}] reads from Redis with a {timeout}-second "
                    f"timeout, no longer than RedisChannelLayer's {layer.brpop_timeout}-second "
                    "blocking receive: idle receives fail and pushes can be lost.",
                    hint=(
                        'Give each host "socket_timeout": None, e.g. "hosts": [{"address": '
                        '"redis://127.0.0.1:6379/0", "socket_timeout": None}] (redis-py 8 '
                        "defaults to 5 seconds), or use "
                        '"channels_redis.pubsub.RedisPubSubChannelLayer".'
                    ),
                    id="livebell.W001",
                )
            ]
    return []


@register()
def check_web_push(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Web push's keys and contact: all three or none, a pair that matches, a contact
    push services accept. A mistake here would fail every push, or turn web push off
    without a word."""
    try:
        values = {
            "WEB_PUSH_VAPID_PRIVATE_KEY": livebell_settings.WEB_PUSH_VAPID_PRIVATE_KEY,
            "WEB_PUSH_VAPID_PUBLIC_KEY": livebell_settings.WEB_PUSH_VAPID_PUBLIC_KEY,
            "WEB_PUSH_CONTACT": livebell_settings.WEB_PUSH_CONTACT,
        }
    except (TypeError, KeyError):
        return []  # livebell.E001 says why
    missing = [name for name, value in values.items() if not value]
    if len(missing) == len(values):
        return []
    if missing:
        return [
            Error(
                f"Web push needs {', '.join(missing)} as well; without it, it is off.",
                hint="manage.py livebell_vapid prints all three (docs/web-push.md).",
                id="livebell.E020",
            )
        ]
    from livebell.reach.webpush import public_key_of

    try:
        public = public_key_of(values["WEB_PUSH_VAPID_PRIVATE_KEY"])
    except Exception:
        public = None
    if public is None or public != values["WEB_PUSH_VAPID_PUBLIC_KEY"].rstrip("="):
        return [
            Error(
                "WEB_PUSH_VAPID_PUBLIC_KEY is not the public key of WEB_PUSH_VAPID_PRIVATE_KEY "
                "(or the private key cannot be read): push services would refuse every push.",
                hint="Use the pair manage.py livebell_vapid printed together.",
                id="livebell.E021",
            )
        ]
    if not str(values["WEB_PUSH_CONTACT"]).startswith(("mailto:", "https://")):
        return [
            Error(
                "WEB_PUSH_CONTACT must be a mailto: or https: address.",
                id="livebell.E022",
            )
        ]
    from livebell.reach.webpush import can_defer

    if not can_defer():
        from livebell.reach.tasks import backend_alias

        alias = backend_alias()
        return [
            Error(
                f"Web push is configured, but its task backend TASKS[{alias!r}] "
                '(LIVEBELL["TASK_BACKEND"]) cannot run tasks later, on a worker: it would '
                "send each push inside the request. livebell sends no web push on it.",
                hint=(
                    f"Make TASKS[{alias!r}] a backend whose worker runs tasks later, e.g. "
                    '{"BACKEND": "django_tasks_db.DatabaseBackend"} and run manage.py '
                    'db_worker; or point LIVEBELL["TASK_BACKEND"] at such a backend '
                    "(docs/web-push.md, “Running the worker”)."
                ),
                id="livebell.E023",
            )
        ]
    return []


@register()
def check_task_backend(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """``LIVEBELL["TASK_BACKEND"]`` must name a backend of ``TASKS``."""
    from livebell.reach.tasks import task_backends

    try:
        alias = livebell_settings.TASK_BACKEND
    except (TypeError, KeyError):
        return []  # livebell.E001 says why
    try:
        if not isinstance(alias, str):
            raise TypeError(alias)
        task_backends[alias]
    except Exception:
        return [
            Error(
                f'LIVEBELL["TASK_BACKEND"] = {alias!r} is not an alias of TASKS: '
                "livebell's emails and web pushes could not be enqueued.",
                hint='Name one of TASKS\'s keys (default "default").',
                id="livebell.E024",
            )
        ]
    return []


@register()
def check_web_push_retries(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """``LIVEBELL["WEB_PUSH_RETRY_DELAYS"]``: a short list of waits, in seconds."""
    from livebell.reach.webpush import retry_delays

    try:
        retry_delays()
    except (TypeError, KeyError):
        return []  # livebell.E001 says why
    except ValueError as exc:
        return [
            Error(
                f'LIVEBELL["WEB_PUSH_RETRY_DELAYS"] {exc}',
                hint="Each retry's wait in seconds, e.g. (30, 120, 480); () for none.",
                id="livebell.E025",
            )
        ]
    return []


@register()
def check_email(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Once a type emails, ``LIVEBELL["SITE_URL"]`` must say where its links point."""
    from django.core.exceptions import ImproperlyConfigured

    from livebell.reach import email

    try:
        if not email.email_types():
            return []
    except (TypeError, KeyError, ValueError):
        return []  # reported by check_settings and check_types
    try:
        email.site_url()
    except ImproperlyConfigured as exc:
        return [
            Error(
                str(exc),
                hint="Notification types with email_after are emailed; their links need it.",
                id="livebell.E006",
            )
        ]
    return []


def _default_socket_timeout(connection_class: type) -> float | None:
    """The read timeout a redis-py connection class has when none is given."""
    for cls in connection_class.__mro__:
        parameter = inspect.signature(cls).parameters.get("socket_timeout")
        if parameter is not None and parameter.default is not inspect.Parameter.empty:
            return parameter.default  # type: ignore[no-any-return]
    return None
