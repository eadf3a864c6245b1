"""Notification types: what a kind of notification says, in the reader's language, and how
it behaves (level, grouping, channels, whether users may turn it off).

Types are optional: ``notify(bob, "waved at you")`` keeps working. A site registers
its types once, at start-up (an ``AppConfig.ready()``), in code::

    from django.utils.translation import gettext_lazy as _, ngettext_lazy
    from livebell import types

    types.register(
        "answer.created",
        label=_("New answers to your questions"),
        template=_("{actor} answered your question “{target}”"),
    )
    types.register(
        "answer.liked",
        label=_("Likes of your answers"),
        template=_("{actor} liked your answer to “{target}”"),
        grouped_template=ngettext_lazy(
            "{actor} and {others} other liked your answer to “{target}”",
            "{actor} and {others} others liked your answer to “{target}”",
            "others",
        ),
        group_window=timedelta(hours=6),
    )

or in settings, ``LIVEBELL = {"TYPES": {"answer.created": {"template": ..., ...}}}``
(the same keyword arguments; read lazily, on first use).

``notify(bob, type="answer.created", actor=alice, target=question)`` then stores the
type's key with the row, and every reader sees the sentence rendered by
:func:`render` in their own language (the socket's, or the REST request's).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.db.models import TextChoices
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from livebell.conf import livebell_settings

__all__ = [
    "CHANNELS",
    "KEY_MAX_LENGTH",
    "Channel",
    "Level",
    "NotificationType",
    "UnknownType",
    "all_types",
    "get",
    "register",
    "render",
]


class Level(TextChoices):
    """How a notification is shown (its ``level`` column; a type's default)."""

    INFO = "info", _("Info")
    SUCCESS = "success", _("Success")
    WARNING = "warning", _("Warning")
    ERROR = "error", _("Error")


class Channel(TextChoices):
    """Where a notification may reach a user (livebell itself delivers in-app)."""

    IN_APP = "in_app", _("In the app")
    EMAIL = "email", _("Email")
    WEB_PUSH = "web_push", _("Web push")


#: The channels a type has a default for, and users a preference for.
CHANNELS: tuple[str, ...] = tuple(Channel.values)
#: The longest type key: the length of the ``type`` columns (livebell.models).
KEY_MAX_LENGTH = 100
_KEY = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
_LEVELS: tuple[str, ...] = tuple(Level.values)


class UnknownType(ValueError, LookupError):
    """A notification type key that nobody registered (a ``ValueError``, as every bad
    argument of ``notify()``)."""


@dataclass(frozen=True)
class NotificationType:
    """One registered kind of notification. Built by :func:`register`."""

    key: str
    #: The sentence, with ``{actor}``, ``{target}`` and any key of ``data`` as
    #: placeholders; a lazy translation (``gettext_lazy``) to be rendered per reader.
    template: Any
    #: What a user reads on the preferences page.
    label: Any
    level: str = "info"
    #: Unread notifications of this type with the same recipient and target, newer than
    #: this, merge into one ("alice and 3 others …"); None: no grouping.
    group_window: timedelta | None = None
    #: The sentence of a merged notification: an ``ngettext_lazy`` on ``"others"``.
    grouped_template: Any = None
    #: Whether each channel is on for a user who never chose.
    channels: Mapping[str, bool] = field(default_factory=dict)
    #: Whether users may turn it off (a security alert, say, may not be).
    optional: bool = True
    #: A notification of this type still unread this long after it was sent is emailed
    #: to its recipient (livebell.reach.email); None: never emailed.
    email_after: timedelta | None = None

    @property
    def groups(self) -> bool:
        """Whether notifications of this type merge (see :attr:`group_window`)."""
        return self.group_window is not None

    def default(self, channel: str) -> bool:
        """Whether ``channel`` is on for a user who never chose: in-app is on unless
        given, email is on when the type emails (:attr:`email_after`) unless given, and
        the rest are off unless given."""
        if channel in self.channels:
            return bool(self.channels[channel])
        return channel == "in_app" or (channel == "email" and self.email_after is not None)


_lock = threading.Lock()
_registered: dict[str, NotificationType] = {}
_from_settings: dict[str, NotificationType] | None = None


def register(
    key: str,
    *,
    template: Any,
    label: Any = None,
    level: str = "info",
    group_window: timedelta | None = None,
    grouped_template: Any = None,
    channels: Mapping[str, bool] | None = None,
    optional: bool = True,
    email_after: timedelta | None = None,
) -> NotificationType:
    """Register a notification type (once per key; at start-up).

    Args:
        key: a short stable name, e.g. ``"answer.created"``: lowercase letters,
            digits, ``.``, ``_`` and ``-``, at most 100 characters. Stored with each row.
        template: the sentence, e.g. ``_("{actor} answered your question “{target}”")``.
        label: what the preferences page calls it (default: the key).
        level: the default level of its notifications.
        group_window: merge unread notifications of this type to the same user about
            the same target that are at most this old (see ``docs/types.md``); needs
            ``grouped_template``.
        grouped_template: the sentence of a merged one, an ``ngettext_lazy`` whose
            number is ``"others"`` (how many actors besides the newest).
        channels: the default of each channel (``in_app``, ``email``, ``web_push``);
            in-app is on and the others off unless given.
        optional: whether users may turn the type off.
        email_after: email a notification of this type that is still unread this long
            after it was sent (see ``docs/email.md``); it also turns the email channel
            on by default unless ``channels`` says otherwise. None: never emailed.

    Returns:
        The registered type.

    Raises:
        ValueError: a bad key, level, channel or window, or a key registered already
            with different settings.
    """
    kind = _build(
        key,
        template=template,
        label=label,
        level=level,
        group_window=group_window,
        grouped_template=grouped_template,
        channels=channels,
        optional=optional,
        email_after=email_after,
    )
    with _lock:
        existing = _registered.get(key)
        if existing is not None and existing != kind:
            raise ValueError(f"Notification type {key!r} is registered already.")
        _registered[key] = kind
    return kind


def get(key: str) -> NotificationType:
    """The registered type ``key``.

    Raises:
        UnknownType: nobody registered it (in code or in ``LIVEBELL["TYPES"]``).
    """
    kind = _registered.get(key) or _settings_types().get(key)
    if kind is None:
        raise UnknownType(
            f"Unknown notification type {key!r}: register it with livebell.types.register() "
            'or in LIVEBELL["TYPES"].'
        )
    return kind


def all_types() -> list[NotificationType]:
    """Every registered type, in key order."""
    return sorted({**_settings_types(), **_registered}.values(), key=lambda kind: kind.key)


def render(
    key: str | None,
    *,
    verb: str,
    actor: str | None,
    target: str | None,
    data: Mapping[str, Any],
    count: int = 1,
) -> str:
    """The sentence a reader sees, in the active language (``translation.override``).

    A typed notification renders its type's template; a merged one (``count`` > 1)
    its grouped template; an untyped one "actor verb “target”". A placeholder the
    template names but the notification lacks renders as an empty string, so a
    translation with a typo never breaks the inbox.
    """
    values = _Values(data)
    values.update(actor=actor or "", target=target or "", others=max(0, count - 1))
    kind = None
    if key:
        try:
            kind = get(key)
        except UnknownType:  # a type removed since the row was stored
            kind = None
    if kind is not None:
        try:
            if count > 1 and kind.grouped_template is not None:
                # An ngettext_lazy picks its plural form from "others" under `%` (and
                # leaves a template without %-placeholders as it is); format_map then
                # fills the braces, a missing one with "".
                translated = kind.grouped_template % {"others": values["others"]}
            else:
                translated = str(kind.template)
            # Stripped: a template that opens with "{actor}" and has none (a notification
            # sent without one) must not read " started following you".
            return str(translated).format_map(values).strip()
        except (KeyError, IndexError, ValueError, AttributeError):
            pass  # a broken template or translation: say it plainly rather than fail
    words = [actor, verb] if actor else [verb]
    if target:
        words.append(gettext("“{target}”").format(target=target))
    return " ".join(words)


class _Values(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return ""


def _build(key: str, **options: Any) -> NotificationType:
    if not isinstance(key, str) or not _KEY.match(key) or len(key) > KEY_MAX_LENGTH:
        raise ValueError(
            f"A notification type key is 1 to {KEY_MAX_LENGTH} lowercase letters, digits, "
            f"'.', '_' or '-'; got {key!r}."
        )
    if options["template"] is None or not str(options["template"]).strip():
        raise ValueError(f"Notification type {key!r} needs a template.")
    if options["level"] not in _LEVELS:
        raise ValueError(f"level must be one of {', '.join(_LEVELS)}, not {options['level']!r}.")
    window = options["group_window"]
    if window is not None and (not isinstance(window, timedelta) or window <= timedelta(0)):
        raise ValueError(f"group_window must be a positive timedelta, not {window!r}.")
    if window is not None and options["grouped_template"] is None:
        raise ValueError(
            f"Notification type {key!r} groups: it needs a grouped_template, an "
            'ngettext_lazy(..., "others") such as "{actor} and {others} others liked …".'
        )
    email_after = options["email_after"]
    if email_after is not None and (
        not isinstance(email_after, timedelta) or email_after < timedelta(0)
    ):
        raise ValueError(f"email_after must be a timedelta of 0 or more, not {email_after!r}.")
    channels = dict(options["channels"] or {})
    unknown = set(channels) - set(CHANNELS)
    if unknown:
        raise ValueError(
            f"Unknown channel(s) {', '.join(sorted(unknown))}; known: {', '.join(CHANNELS)}."
        )
    return NotificationType(
        key=key,
        template=options["template"],
        label=options["label"] if options["label"] is not None else key,
        level=options["level"],
        group_window=window,
        grouped_template=options["grouped_template"],
        channels=channels,
        optional=bool(options["optional"]),
        email_after=email_after,
    )


_settings_source: object = None


def _settings_types() -> dict[str, NotificationType]:
    """The types of ``LIVEBELL["TYPES"]``, built on first use and again when it changes."""
    global _from_settings, _settings_source
    declared = livebell_settings.TYPES
    with _lock:
        if _from_settings is None or declared is not _settings_source:
            _from_settings = {
                key: _build(key, **_with_defaults(options))
                for key, options in (declared or {}).items()
            }
            _settings_source = declared
        return _from_settings


def _with_defaults(options: Mapping[str, Any]) -> dict[str, Any]:
    defaults: dict[str, Any] = {
        "label": None,
        "level": "info",
        "group_window": None,
        "grouped_template": None,
        "channels": None,
        "optional": True,
        "email_after": None,
    }
    unknown = set(options) - set(defaults) - {"template"}
    if unknown:
        raise ValueError(f"Unknown notification type option(s): {', '.join(sorted(unknown))}.")
    return {**defaults, "template": options.get("template"), **options}
