"""Each hq notification is also a livebell notification: its twin.

The twin is stored by :func:`livebell.notify` (livebell's one write path: counted,
pushed to the recipient's open sockets after commit) when the hq row is created,
and names its hq row in its ``data``::

    {"hq": {"model": "notifications.notification", "id": 12, "slug": 110921,
            "actor": "alice", "action_object": "…", "target": "…",
            "description": "…", "data": {…}}}

hq's model cannot hold the link: a swapped model (``NOTIFICATIONS_NOTIFICATION_MODEL``)
keeps the columns of its own migrations.

Read state is kept in step both ways:

- hq → livebell: a save or ``QuerySet.update()`` that changes ``unread`` marks the
  twin read or unread through :mod:`livebell.inbox`; deleting the hq row (or
  soft-deleting it, with ``SOFT_DELETE``) deletes the twin, restoring it stores a new
  twin.
- livebell → hq: :data:`livebell.signals.notifications_read` and
  :data:`livebell.signals.notifications_unread` (socket, REST, the bell) set ``unread``
  on the hq rows, without coming back here.

A notification deleted in livebell (the bell's delete) keeps its hq row.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
from collections import defaultdict
from collections.abc import Iterable, Iterator
from typing import Any

from django.db.models.signals import post_delete, post_save
from swapper import load_model

from notifications import settings as notifications_settings

__all__ = [
    "after_update",
    "connect",
    "mirror",
    "mirror_all",
    "on_saved",
    "storing_together",
    "twin_values",
    "twins",
]

#: livebell takes verbs of at most this many characters (hq: 255).
_VERB_MAX = 128
#: ids per livebell.inbox call (its limit).
_IDS_PER_CALL = 1000


def connect() -> None:
    """Connect the receivers (from ``AppConfig.ready()``: the model may be swapped)."""
    from livebell import signals

    model = load_model("notifications", "Notification")
    post_save.connect(on_saved, sender=model, dispatch_uid="notifications.mirror.on_saved")
    post_delete.connect(on_deleted, sender=model, dispatch_uid="notifications.mirror.on_deleted")
    signals.notifications_read.connect(
        on_livebell_read, dispatch_uid="notifications.mirror.on_livebell_read"
    )
    unread_signal = getattr(signals, "notifications_unread", None)
    if unread_signal is not None:
        unread_signal.connect(
            on_livebell_unread, dispatch_uid="notifications.mirror.on_livebell_unread"
        )


def _label(model: Any) -> str:
    return str(model._meta.label_lower)


#: The longest text of hq's the twin carries (actor, targets, description): the twin's
#: data must stay under livebell's DATA_MAX_BYTES whatever hq stored.
_TEXT_MAX = 500


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value)
    return text if len(text) <= _TEXT_MAX else text[: _TEXT_MAX - 1] + "…"


def _hq_data(data: Any) -> Any:
    """hq's ``data`` for the twin if livebell can carry it (JSON, not too large)."""
    if data is None:
        return None
    from livebell.conf import livebell_settings

    try:
        size = len(json.dumps(data, allow_nan=False).encode())
    except (TypeError, ValueError, RecursionError):
        return None
    return data if size <= livebell_settings.DATA_MAX_BYTES // 2 else None


def twin_values(row: Any) -> dict[str, Any]:
    """What the twin of the hq notification ``row`` says: ``livebell.notify()``'s
    arguments (``recipients``, ``verb``, ``actor``, ``target``, ``level``, ``data``)."""
    from django.contrib.auth import get_user_model

    objects = getattr(row, "_objects", None) or {}
    # Not objects.get(name, getattr(row, name)), which would load the relation anyway.
    actor, target, action_object = (
        objects[name] if name in objects else getattr(row, name)
        for name in ("actor", "target", "action_object")
    )
    link = {
        "model": _label(type(row)),
        "id": row.pk,
        "slug": row.slug,
        "actor": _text(actor),
        "action_object": _text(action_object),
        "target": _text(target),
        "description": _text(row.description),
        "data": _hq_data(row.data),
    }
    verb = " ".join(str(row.verb).split())
    if len(verb) > _VERB_MAX:
        verb = verb[: _VERB_MAX - 1] + "…"
    user_actor = actor if isinstance(actor, get_user_model()) and actor.pk is not None else None
    shown = target if target is not None else action_object
    if shown is not None and (shown.pk is None or len(str(shown.pk)) > 64):
        shown = None
    return {
        "recipients": row.recipient,
        "verb": verb or "notification",
        "actor": user_actor,
        "target": shown,
        "level": row.level if row.level in ("success", "info", "warning", "error") else "info",
        "data": {"hq": link},
    }


# The hq rows whose twins wait to be stored together (:func:`storing_together`).
_waiting: contextvars.ContextVar[list[Any] | None] = contextvars.ContextVar(
    "notifications_mirror_waiting", default=None
)


@contextlib.contextmanager
def storing_together() -> Iterator[None]:
    """Inside, new hq rows wait; at the end their twins are stored by one
    :func:`livebell.notify_each` (one transaction, lock and publish for all), as
    ``notify.send()`` to a group needs: one ``notify()`` per row costs a transaction
    each."""
    if _waiting.get() is not None:  # already inside: the outer one stores them
        yield
        return
    waiting: list[Any] = []
    token = _waiting.set(waiting)
    try:
        yield
    finally:
        _waiting.reset(token)
    # Not after an error: the caller's transaction rolls the rows back.
    if waiting:
        mirror_all(waiting)


def mirror_all(rows: list[Any]) -> None:
    """Store the twins of the hq notifications ``rows`` in one :func:`livebell.notify_each`."""
    import livebell

    twin_rows = livebell.notify_each(twin_values(row) for row in rows)
    read = [
        (row.recipient_id, twin.pk)
        for row, twins_of_row in zip(rows, twin_rows, strict=True)
        if not row.unread
        for twin in twins_of_row
    ]
    if read:
        from livebell import inbox

        by_recipient: dict[Any, list[int]] = defaultdict(list)
        for recipient_id, twin_id in read:
            by_recipient[recipient_id].append(twin_id)
        _apply(inbox.mark_read, by_recipient)


def mirror(row: Any) -> Any:
    """Store the livebell twin of the hq notification ``row``; the twin, or None when
    livebell left its recipient out (a muted target)."""
    import livebell

    rows = livebell.notify(**twin_values(row))
    if not rows:
        return None
    twin = rows[0]
    if not row.unread:
        from livebell import inbox

        inbox.mark_read(row.recipient_id, [twin.pk])
    return twin


def twins(
    model: Any, hq_ids: Iterable[int], recipients: Iterable[Any], *, read: bool | None = None
) -> list[tuple[int, Any, int]]:
    """The livebell twins of hq rows ``hq_ids`` of ``model``, whose recipients are among
    ``recipients`` (only the read or unread ones, if ``read`` is given): (twin id,
    recipient id, hq id).

    The link is in the twin's JSON ``data``, which no index covers: the recipients
    narrow the search to their own rows (livebell's index on the recipient), so it
    does not read every user's notifications.
    """
    from livebell.models import Notification as Twin

    ids = list(hq_ids)
    users = list(set(recipients))
    found: list[tuple[int, Any, int]] = []
    for start in range(0, len(ids), _IDS_PER_CALL):
        qs = Twin.objects.filter(
            recipient_id__in=users,
            data__hq__model=_label(model),
            data__hq__id__in=ids[start : start + _IDS_PER_CALL],
        )
        if read is not None:
            qs = qs.filter(read_at__isnull=not read)
        found.extend(qs.values_list("pk", "recipient_id", "data__hq__id"))
    return found


def _by_recipient(found: Iterable[tuple[int, Any, int]]) -> dict[Any, list[int]]:
    grouped: dict[Any, list[int]] = defaultdict(list)
    for twin_id, recipient_id, _ in found:
        grouped[recipient_id].append(twin_id)
    return grouped


def _apply(change: Any, grouped: dict[Any, list[int]]) -> None:
    for recipient_id, twin_ids in grouped.items():
        for start in range(0, len(twin_ids), _IDS_PER_CALL):
            change(recipient_id, twin_ids[start : start + _IDS_PER_CALL])


def _soft_delete() -> bool:
    return bool(notifications_settings.get_config()["SOFT_DELETE"])


def on_saved(sender: Any, instance: Any, created: bool, raw: bool = False, **kwargs: Any) -> None:
    """post_save of hq's model: store the twin of a new row, or follow a change of
    ``unread`` or ``deleted``."""
    if raw:  # loaddata: fixtures are not news
        return
    before = getattr(instance, "_stored_state", None)
    instance._remember_state()
    if created:
        if not (_soft_delete() and instance.deleted):
            waiting = _waiting.get()
            if waiting is None:
                mirror(instance)
            else:
                waiting.append(instance)
        return
    if before == instance._stored_state:
        return
    _follow(type(instance), [(instance.pk, instance.recipient_id, before, instance)])


def _follow(model: Any, changes: list[tuple[int, Any, Any, Any]]) -> None:
    """Bring the twins of changed hq rows in step: (pk, recipient id, (unread, deleted)
    before or None, the row now)."""
    from livebell import inbox

    soft = _soft_delete()
    found = {
        hq_id: (twin_id, rid)
        for twin_id, rid, hq_id in twins(model, [c[0] for c in changes], [c[1] for c in changes])
    }
    read: dict[Any, list[int]] = defaultdict(list)
    unread: dict[Any, list[int]] = defaultdict(list)
    gone: dict[Any, list[int]] = defaultdict(list)
    for pk, _, _, row in changes:
        twin = found.get(pk)
        if soft and row.deleted:
            if twin:
                gone[twin[1]].append(twin[0])
        elif twin is None:
            if soft and not isinstance(row, _Row):  # restored with save(): a new twin
                mirror(row)
        elif row.unread:
            unread[twin[1]].append(twin[0])
        else:
            read[twin[1]].append(twin[0])
    _apply(inbox.mark_read, read)
    _apply(inbox.mark_unread, unread)
    _apply(inbox.delete, gone)


class _Row:
    """An hq row as ``QuerySet.update()`` left it, for :func:`_follow`."""

    def __init__(self, pk: int, recipient_id: Any, unread: bool, deleted: bool) -> None:
        self.pk = pk
        self.recipient_id = recipient_id
        self.unread = unread
        self.deleted = deleted


def after_update(
    model: Any, rows: list[tuple[int, Any, bool, bool]], values: dict[str, Any]
) -> None:
    """After ``QuerySet.update(**values)`` set ``unread`` or ``deleted`` on ``rows``
    ((pk, recipient id, unread, deleted) as they were): follow the changes."""
    changes: list[tuple[int, Any, Any, Any]] = []
    restored: list[int] = []
    restored_for: set[Any] = set()
    for pk, recipient_id, was_unread, was_deleted in rows:
        unread = bool(values.get("unread", was_unread))
        deleted = bool(values.get("deleted", was_deleted))
        if (unread, deleted) == (was_unread, was_deleted):
            continue
        if was_deleted and not deleted and _soft_delete():
            restored.append(pk)
            restored_for.add(recipient_id)
        else:
            changes.append(
                (
                    pk,
                    recipient_id,
                    (was_unread, was_deleted),
                    _Row(pk, recipient_id, unread, deleted),
                )
            )
    if changes:
        _follow(model, changes)
    if restored:
        live = {twin[2] for twin in twins(model, restored, restored_for)}
        for row in model._base_manager.filter(pk__in=[pk for pk in restored if pk not in live]):
            mirror(row)


def on_deleted(sender: Any, instance: Any, **kwargs: Any) -> None:
    """post_delete of hq's model: delete the twin."""
    from livebell import inbox

    found = twins(type(instance), [instance.pk], [instance.recipient_id])
    _apply(inbox.delete, _by_recipient(found))


def _set_unread(user_id: Any, twin_ids: Any, unread: bool) -> None:
    """Set ``unread`` on the hq rows of the user's twins ``twin_ids`` (or, for "all",
    of every twin now in that state) with a plain ``update()``, which does not come
    back here."""
    from livebell.models import Notification as Twin

    model = load_model("notifications", "Notification")
    if twin_ids == "all":
        # The hq rows not yet in that state (few, often none) whose twin now is.
        pending = model._base_manager.filter(recipient_id=user_id, unread=not unread)
        hq_ids = [
            hq_id
            for _, _, hq_id in twins(
                model, pending.values_list("pk", flat=True), [user_id], read=not unread
            )
        ]
    else:
        hq_ids = list(
            Twin.objects.filter(
                recipient_id=user_id, pk__in=list(twin_ids), data__hq__model=_label(model)
            ).values_list("data__hq__id", flat=True)
        )
    if hq_ids:
        model._base_manager.filter(pk__in=hq_ids, unread=not unread).update(unread=unread)


def on_livebell_read(sender: Any, user_id: Any, ids: Any, **kwargs: Any) -> None:
    """livebell marked the user's ``ids`` (or all) read: so are their hq rows."""
    _set_unread(user_id, ids, False)


def on_livebell_unread(sender: Any, user_id: Any, ids: Any, **kwargs: Any) -> None:
    """livebell marked the user's ``ids`` unread: so are their hq rows."""
    _set_unread(user_id, ids, True)
