"""The one place that names channel-layer groups, and that tells this site from others.

Channels' Redis layers route a group by its name alone: the pub/sub layer ignores
the Redis database number, so two sites on one Redis server whose group names
match receive each other's pushes. Every group name therefore starts with a
prefix of the site's own (:func:`group_prefix`): ``LIVEBELL["GROUP_PREFIX"]`` when
set, else ``livebell.`` and the site's key (:func:`site_key`), a keyed hash of
``SECRET_KEY`` that every process of the site computes alike and no other site
shares. The key also travels in every layer message (:mod:`livebell.layer.messages`),
so that a socket ignores a message of another site even when two sites set the
same prefix (:mod:`livebell.live.session`).

Both are computed on first use and again after ``SECRET_KEY`` or ``LIVEBELL``
changes (``override_settings`` in tests).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from typing import Any, NamedTuple

from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.crypto import salted_hmac

from livebell.conf import livebell_settings

__all__ = [
    "PREFIX_MAX_LENGTH",
    "SITE_KEY_LENGTH",
    "fanout_group",
    "group_prefix",
    "is_valid_prefix",
    "site_key",
    "user_group",
    "user_groups",
]

# Channels accepts group names of ASCII letters, digits, '-', '_' and '.', under 100 characters.
_SAFE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
#: Hex digits of the site key: 48 bits, so that sites sharing a Redis do not meet by
#: chance, and short enough that a group name stays far under Channels' 100 characters.
SITE_KEY_LENGTH = 12
#: The longest group prefix: with the '.' and the longest key (64 characters) a user
#: group's name is 99 characters, the most Channels accepts.
PREFIX_MAX_LENGTH = 99 - 1 - 64
# The HMAC's salt: the site key is of no use for anything Django (or livebell) signs.
_KEY_SALT = "livebell.groups"


class _Site(NamedTuple):
    key: str
    prefix: str


_site: _Site | None = None


def _this_site() -> _Site:
    global _site
    if _site is None:
        # Keyed, not a plain hash of SECRET_KEY: what is stored in Redis (group names)
        # and sent over it says nothing about the secret.
        key = salted_hmac(_KEY_SALT, "livebell", algorithm="sha256").hexdigest()
        key = key[:SITE_KEY_LENGTH]
        explicit = livebell_settings.GROUP_PREFIX
        _site = _Site(key, f"livebell.{key}" if explicit is None else str(explicit))
    return _site


@receiver(setting_changed)
def _forget_site(*, setting: str, **kwargs: Any) -> None:
    global _site
    if setting in ("SECRET_KEY", "LIVEBELL"):
        _site = None


def site_key() -> str:
    """This site's key: a keyed hash of ``SECRET_KEY``, the same in every process
    of the site and different on another site (or after ``SECRET_KEY`` changes)."""
    return _this_site().key


def group_prefix() -> str:
    """The prefix of this site's group names: ``LIVEBELL["GROUP_PREFIX"]``, or
    ``livebell.`` and :func:`site_key`."""
    return _this_site().prefix


def is_valid_prefix(prefix: object) -> bool:
    """Whether ``prefix`` keeps every group name valid for Channels."""
    return (
        isinstance(prefix, str)
        and 0 < len(prefix) <= PREFIX_MAX_LENGTH
        and _SAFE.match(prefix) is not None
    )


def user_group(user_id: Any) -> str:
    """Name of the group that holds every open socket of the user with this primary key.

    Primary keys that are not safe in a group name (arbitrary strings) are hashed.
    """
    return user_groups((user_id,))[0]


def user_groups(user_ids: Iterable[Any]) -> list[str]:
    """:func:`user_group` of each id, with the prefix read once: a ``notify()`` to
    1,000 users names 1,000 groups."""
    prefix = group_prefix()
    return [f"{prefix}.{_group_key(user_id)}" for user_id in user_ids]


def _group_key(user_id: Any) -> str:
    if type(user_id) is int:  # digits, and a minus sign at most: always safe
        return str(user_id)
    key = str(user_id)
    if not _SAFE.match(key):
        key = hashlib.sha256(key.encode()).hexdigest()[:40]
    return key


def fanout_group() -> str:
    """Name of the group every server process joins once, for pushes to many users.

    ``notify()`` sends each batch of recipients there as one message, and each
    process hands it to its own sockets (see :mod:`livebell.layer.fanout`). The ``-``
    keeps it apart from every user group, whose names continue the prefix with ``.``.
    """
    return f"{group_prefix()}-fanout"
