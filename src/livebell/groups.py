"""The one place that names channel-layer groups."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from typing import Any

from livebell.conf import livebell_settings

__all__ = ["fanout_group", "user_group", "user_groups"]

# Channels accepts group names of ASCII letters, digits, '-', '_' and '.', under 100 characters.
_SAFE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def user_group(user_id: Any) -> str:
    """Name of the group that holds every open socket of the user with this primary key.

    Primary keys that are not safe in a group name (arbitrary strings) are hashed.
    """
    return user_groups((user_id,))[0]


def user_groups(user_ids: Iterable[Any]) -> list[str]:
    """:func:`user_group` of each id, with the setting read once: a ``notify()`` to
    1,000 users names 1,000 groups."""
    prefix = livebell_settings.GROUP_PREFIX
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
    process hands it to its own sockets (see :mod:`livebell.fanout`). The ``-``
    keeps it apart from every user group, whose names continue the prefix with ``.``.
    """
    return f"{livebell_settings.GROUP_PREFIX}-fanout"
