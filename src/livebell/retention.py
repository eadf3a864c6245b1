"""Retention: how long notifications are kept, for ``manage.py livebell_prune`` and
the periodic task :data:`prune_old_notifications`.

Both run :func:`livebell.storage.prune.prune`, which deletes in short batches under
the recipients' state locks (counts stay exact, a client resuming from a deleted id
is told ``truncated``). The command takes its age and batch as arguments; the task
reads ``LIVEBELL["PRUNE_OLDER_THAN"]``, ``PRUNE_READ_ONLY`` and ``PRUNE_BATCH`` each
time it runs. Nothing is deleted unless a site runs the command or schedules the
task (Django's tasks framework has no scheduler of its own: use the one of the
backend, or cron).
"""

from __future__ import annotations

import re
from datetime import timedelta

from django.core.exceptions import ImproperlyConfigured

from livebell.conf import livebell_settings
from livebell.reach.tasks import task
from livebell.storage.prune import DEFAULT_BATCH, PruneResult, prune

__all__ = [
    "DEFAULT_BATCH",
    "PruneResult",
    "parse_age",
    "prune",
    "prune_old_notifications",
    "setting_age",
]

_AGE = re.compile(r"(\d+)([dhm])")
_UNITS = {"d": "days", "h": "hours", "m": "minutes"}


def parse_age(text: str) -> timedelta:
    """``"90d"``, ``"12h"`` or ``"30m"`` as a :class:`~datetime.timedelta`.

    Raises:
        ValueError: anything else (no unit, another unit, a sign, zero).
    """
    found = _AGE.fullmatch(text.strip())
    if found is None or int(found[1]) == 0:
        raise ValueError(
            f"{text!r} is not an age: a whole number and d (days), h (hours) or m "
            "(minutes), such as 90d, 12h or 30m."
        )
    return timedelta(**{_UNITS[found[2]]: int(found[1])})


def setting_age() -> timedelta:
    """``LIVEBELL["PRUNE_OLDER_THAN"]`` as a :class:`~datetime.timedelta` (a string
    such as ``"90d"``, or a timedelta).

    Raises:
        ImproperlyConfigured: neither.
    """
    value = livebell_settings.PRUNE_OLDER_THAN
    if isinstance(value, timedelta):
        return value
    try:
        return parse_age(str(value))
    except ValueError as error:
        raise ImproperlyConfigured(f'LIVEBELL["PRUNE_OLDER_THAN"]: {error}') from error


@task()
def prune_old_notifications() -> dict[str, int]:
    """The periodic task: :func:`~livebell.storage.prune.prune` with the ``PRUNE_*``
    settings, read when it runs; returns what it did, as a dict (a task's result
    must be JSON)."""
    done = prune(
        setting_age(),
        read_only=bool(livebell_settings.PRUNE_READ_ONLY),
        batch=int(livebell_settings.PRUNE_BATCH),
    )
    return {
        "deleted": done.deleted,
        "unread": done.unread,
        "batches": done.batches,
        "users": done.users,
    }
