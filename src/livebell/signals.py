"""Signals for integrators: hook email, web push or analytics onto livebell's events.

All are sent after the transaction that made the change commits (never for a
rollback), from the thread that committed it. Receivers must be quick or hand the
work to a task queue: they run inside ``notify()`` or the read-state change.

``notification_created``
    Once per ``notify()`` / ``anotify()`` call that stored something, with
    ``notifications`` (the stored rows, a list) and ``type`` (the type's key, or
    None). A call whose recipients were all left out (preferences, mutes) sends
    nothing. The rows of one call hold the very same ``data`` and ``actors``
    objects: copy one before changing it for a single row.

``notifications_read``
    Once per change that marked something read (socket, REST, admin or
    ``livebell.inbox``), with ``user_id`` and ``ids`` (the ids that became read, or
    ``"all"`` for mark-all-read, with ``before_id``).

``notifications_unread``
    Once per change that marked something unread, with ``user_id`` and ``ids`` (the
    ids that became unread). It keeps another store of read state in step (the
    django-notifications-hq compat package).
"""

from __future__ import annotations

from django.dispatch import Signal

__all__ = ["notification_created", "notifications_read", "notifications_unread"]

notification_created = Signal()
notifications_read = Signal()
notifications_unread = Signal()
