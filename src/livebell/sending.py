"""Sending notifications: ``notify()``, its async twin ``anotify()``, and
``notify_each()`` for several calls at once.

Both take one path: :func:`_draft` validates the arguments into a
:class:`~livebell.storage.inserts.RowPlan` before any write, :func:`_store` stores plans
in the current transaction (:mod:`livebell.storage.inserts`) and builds their pushes
(:func:`livebell.layer.delivery.pushes`), and the pushes are sent after commit. They
differ only in who runs the transaction: ``notify()`` joins the caller's,
``anotify()`` runs its own in Channels' database thread, shared with the calls
made at the same moment (a group commit, below), and ``notify_each()`` stores the
calls it is given in one transaction, as that group commit does.
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

import orjson
from django.contrib.auth import get_user_model
from django.db import models, router, transaction
from django.db.models.query import QuerySet
from django.utils import timezone

from livebell import mutes, preferences, protocol, signals, types
from livebell._coalescer import Coalescer
from livebell.conf import livebell_settings
from livebell.layer import delivery
from livebell.layer.messages import Push
from livebell.models import (
    TARGET_ID_MAX_LENGTH,
    TARGET_TEXT_MAX_LENGTH,
    TARGET_URL_MAX_LENGTH,
    VERB_MAX_LENGTH,
    Channel,
    Level,
    Notification,
)
from livebell.storage import actors, inserts
from livebell.storage.inserts import RowPlan

__all__ = ["Recipients", "anotify", "notify", "notify_each"]

Recipients = models.Model | Iterable[models.Model] | QuerySet[Any]


def notify(
    recipients: Recipients,
    verb: str | None = None,
    *,
    type: str | None = None,
    actor: models.Model | None = None,
    target: models.Model | None = None,
    data: dict[str, Any] | None = None,
    level: str | None = None,
) -> list[Notification]:
    """Store a notification for each recipient and push it to their open sockets.

    The rows are inserted in batches inside a transaction; each is pushed to its
    own recipient's sockets only after the outermost transaction commits, so a
    rollback stores and pushes nothing. A failed push is logged, never raised.

    Recipients who turned the type off (:mod:`livebell.preferences`) or muted the
    target (:mod:`livebell.mutes`) are left out. A notification of a type that
    groups merges into the recipient's recent unread one about the same target
    ("alice and 2 others liked your answer").

    Args:
        recipients: one user, an iterable of users, or a QuerySet of users.
            Duplicates are notified once.
        verb: what happened, e.g. ``"liked your post"``; 1 to 128 characters. May be
            left out for a typed notification (then the type's key).
        type: a registered notification type's key (:mod:`livebell.types`); its
            template renders the sentence each reader sees, in their language.
        actor: the user who acted, if any.
        target: the saved model instance acted upon, if any. Its ``str()`` and
            ``get_absolute_url()`` are stored with the notification.
        data: extra JSON-serialisable values for the client (a dict); a typed
            notification's template may name its keys.
        level: ``"info"``, ``"success"``, ``"warning"`` or ``"error"``; by default the
            type's level, or ``"info"``.

    Returns:
        The stored notifications, in recipient order, with their ids (only those
        left after preferences and mutes; possibly none).

    Raises:
        ValueError: no recipient, a recipient whose user row does not exist, no verb
            and no type, an unknown type (``livebell.types.UnknownType``), empty or
            too long verb, unknown level, unsaved target, or ``data`` larger than
            ``LIVEBELL["DATA_MAX_BYTES"]`` or that the sockets' JSON encoder (orjson)
            refuses: an integer outside 64 bits, nesting past 255 levels.
        TypeError: a recipient or actor that is not a saved user, or ``data``
            that is not a JSON-serialisable dict.
    """
    plan = _draft(_Call(recipients, verb, type, actor, target, data, level))
    using = router.db_for_write(Notification)
    with transaction.atomic(using=using):
        rows, pushes = _store([plan], using)
        transaction.on_commit(lambda: delivery.send(pushes), using=using, robust=True)
        transaction.on_commit(lambda: _announce(rows, type), using=using, robust=True)
    return rows


def notify_each(calls: Iterable[Mapping[str, Any]]) -> list[list[Notification]]:
    """Several :func:`notify` calls stored together, as one: one transaction, one lock
    of the recipients' state rows, as few INSERTs as the database allows, and, after
    commit, one publish for all their pushes.

    For notifications that differ per recipient (a ``data`` of each one's own) or
    several kinds at once, where a loop of ``notify()`` calls would pay a lock, an
    INSERT and a commit each.

    Args:
        calls: each one call's keyword arguments: ``recipients`` and any of ``verb``,
            ``type``, ``actor``, ``target``, ``data`` and ``level``, as
            :func:`notify` takes them.

    Returns:
        Each call's stored notifications, in the order of ``calls`` (as :func:`notify`
        returns them).

    Raises:
        TypeError: an item that is not a mapping, lacks ``recipients`` or names an
            argument ``notify()`` does not take; and what :func:`notify` raises. Every
            call is checked before anything is stored: if one is refused, none is
            stored.
    """
    drafted = [(call, _draft(call)) for call in map(_call_of, calls)]
    if not drafted:
        return []
    using = router.db_for_write(Notification)
    with transaction.atomic(using=using):
        rows, pushes = _store([plan for _, plan in drafted], using)
        stored: list[tuple[list[Notification], str | None]] = []
        start = 0
        for call, plan in drafted:
            count = len(plan.recipient_ids)
            stored.append((rows[start : start + count], call.type))
            start += count
        transaction.on_commit(lambda: delivery.send(pushes), using=using, robust=True)
        for call_rows, type_key in stored:
            transaction.on_commit(
                functools.partial(_announce, call_rows, type_key), using=using, robust=True
            )
    return [call_rows for call_rows, _ in stored]


def _call_of(arguments: Mapping[str, Any]) -> _Call:
    """One ``notify_each()`` item as a call."""
    if not isinstance(arguments, Mapping):
        raise TypeError(
            f"notify_each() takes mappings of notify()'s arguments, not {type(arguments).__name__}."
        )
    unknown = sorted(set(arguments) - set(_Call._fields))
    if unknown:
        raise TypeError(f"notify() takes no argument {', '.join(map(repr, unknown))}.")
    if "recipients" not in arguments:
        raise TypeError("each notify_each() call needs its recipients.")
    return _Call(**{**_NO_ARGUMENTS, **arguments})


async def anotify(
    recipients: Recipients,
    verb: str | None = None,
    *,
    type: str | None = None,
    actor: models.Model | None = None,
    target: models.Model | None = None,
    data: dict[str, Any] | None = None,
    level: str | None = None,
) -> list[Notification]:
    """Async twin of :func:`notify`, for consumers, async views and tasks.

    Stores the rows in Channels' database thread, in their own transaction, then
    pushes them from the running event loop. Calls made at the same time share
    one transaction (a group commit: one lock query, one INSERT, one commit and
    one publish for all of them); a call is never held back waiting for others.
    Arguments, return value and errors are those of :func:`notify`; pass a
    QuerySet or a list of users, not a lazy related manager that would query
    from async code.
    """
    outcome = await _store_together(_Call(recipients, verb, type, actor, target, data, level))
    if isinstance(outcome, BaseException):
        raise outcome
    rows, pushes = outcome
    await pushes.sent()
    return rows


class _Call(NamedTuple):
    """The arguments of one ``notify()`` or ``anotify()`` call."""

    recipients: Recipients
    verb: str | None
    type: str | None
    actor: models.Model | None
    target: models.Model | None
    data: dict[str, Any] | None
    level: str | None


# What a notify_each() item leaves out.
_NO_ARGUMENTS: dict[str, Any] = dict.fromkeys(_Call._fields)


def _store(plans: Sequence[RowPlan], using: str) -> tuple[list[Notification], list[Push]]:
    """Store ``plans`` in the current transaction; their rows and the pushes to send
    once it commits."""
    rows, transitions = inserts.store(plans, using)
    return rows, delivery.pushes(rows, transitions)


def _announce(rows: list[Notification], type_key: str | None) -> None:
    """Send :data:`livebell.signals.notification_created` for one call's rows."""
    if rows:
        signals.notification_created.send(sender=Notification, notifications=rows, type=type_key)


# The group commit of anotify(): calls waiting for Channels' database thread at the
# same moment are stored in one transaction, and their pushes sent together.


class _SharedPushes:
    """The pushes of calls stored together: sent once, in id order, by whichever
    caller gets there first; the others wait for the same send."""

    def __init__(self, pushes: list[Push]) -> None:
        self.pushes = pushes
        self.sending: asyncio.Future[None] | None = None

    async def sent(self) -> None:
        if self.sending is None:
            self.sending = asyncio.ensure_future(delivery.asend(self.pushes))
        # A caller cancelled while waiting must not cancel the others' pushes.
        await asyncio.shield(self.sending)


_Stored = tuple[list[Notification], _SharedPushes]


def _store_calls(calls: Sequence[_Call]) -> list[_Stored | Exception]:
    """Store concurrent ``anotify()`` calls in one transaction; each call's rows and pushes.

    A call with bad arguments gets its own error and stores nothing; the others
    go on. If the shared transaction fails, each call is retried alone, so a
    database error reaches only the call that caused it.
    """
    outcomes: list[_Stored | Exception] = []
    planned: list[tuple[int, RowPlan]] = []
    for index, call in enumerate(calls):
        try:
            plan = _draft(call)
        except Exception as exc:
            outcomes.append(exc)
        else:
            outcomes.append(ValueError("not stored"))  # replaced below
            planned.append((index, plan))
    if not planned:
        return outcomes
    using = router.db_for_write(Notification)
    try:
        with transaction.atomic(using=using):
            rows, pushes = _store([plan for _, plan in planned], using)
    except Exception as exc:
        if len(planned) == 1:
            outcomes[planned[0][0]] = exc
            return outcomes
        for index, _ in planned:
            outcomes[index] = _store_calls([calls[index]])[0]
        return outcomes
    # One set of pushes for the whole batch: several rows go as one fan-out message.
    shared = _SharedPushes(pushes)
    start = 0
    for index, plan in planned:
        count = len(plan.recipient_ids)
        outcomes[index] = (rows[start : start + count], shared)
        _announce(rows[start : start + count], calls[index].type)
        start += count
    return outcomes


# Calls per shared transaction; each may have many recipients (rows go in BATCH_SIZE INSERTs).
MAX_CALLS_TOGETHER = 500

_store_together: Coalescer[_Call, _Stored | Exception] = Coalescer(
    _store_calls, max_batch=MAX_CALLS_TOGETHER
)


# Read once: TextChoices.values builds its list (and the labels') on every access,
# a cost every call would pay again.
_LEVELS = frozenset(Level.values)


def _draft(call: _Call) -> RowPlan:
    """Validate a call's arguments before any write: what to store, for whom."""
    kind = types.get(call.type) if call.type is not None else None
    if call.verb is None and kind is None:
        raise ValueError("notify() needs a verb or a type.")
    verb = _clean_verb(call.verb if call.verb is not None else call.type)
    level = call.level if call.level is not None else (kind.level if kind else Level.INFO)
    if not (isinstance(level, str) and level in _LEVELS):
        raise ValueError(f"level must be one of {', '.join(Level.values)}, not {level!r}.")
    if call.actor is not None:
        _check_user(call.actor, "actor")
    data = _clean_data(call.data)
    target_fields = _target_fields(call.target)
    recipient_ids = _recipient_ids(call.recipients)
    if kind is not None:
        recipient_ids = preferences.recipients_with(kind.key, Channel.IN_APP, recipient_ids)
    if call.target is not None:
        muted = mutes.muted_among(mutes.keys_of(call.target), recipient_ids)
        recipient_ids = [rid for rid in recipient_ids if rid not in muted]
    actor: Any = call.actor  # a user (checked above): the user model is swappable
    latest = [] if actor is None else [actors.entry(actor)]
    template = _unsaved(
        {
            "actor": actor,
            "verb": verb,
            "type": kind.key if kind else "",
            "level": level,
            "data": data,
            "actors": latest,
            "created_at": timezone.now(),
            **target_fields,
        }
    )
    return RowPlan(template, recipient_ids, kind.group_window if kind else None)


@functools.cache
def _template_columns() -> tuple[tuple[str, str, models.Field[Any, Any]], ...]:
    """Each column of a notification: field name, attribute name, field."""
    return tuple((f.name, f.attname, f) for f in Notification._meta.concrete_fields)


def _unsaved(values: dict[str, Any]) -> Notification:
    """``Notification(**values)``, built from positional values, which Django's
    __init__ takes much faster than keywords (once per call). Relations are given as
    instances, which the new row caches, as the keyword form does."""
    args = []
    related = []
    for name, attname, field in _template_columns():
        if name not in values:
            args.append(field.get_default())
        elif name != attname:  # a relation
            target = values[name]
            args.append(None if target is None else target.pk)
            if target is not None:
                related.append((name, target))
        else:
            args.append(values[name])
    row = Notification(*args)
    for name, target in related:
        setattr(row, name, target)
    return row


def _clean_verb(verb: object) -> str:
    if not isinstance(verb, str):
        raise TypeError(f"verb must be a string, not {type(verb).__name__}.")
    verb = verb.strip()
    if not verb:
        raise ValueError("verb must not be empty.")
    if len(verb) > VERB_MAX_LENGTH:
        raise ValueError(f"verb must be at most {VERB_MAX_LENGTH} characters, got {len(verb)}.")
    return verb


def _clean_data(data: object) -> dict[str, Any]:
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise TypeError(f"data must be a dict, not {type(data).__name__}.")
    try:
        text = json.dumps(data, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"data must be JSON-serialisable: {exc}") from None
    except RecursionError:
        raise ValueError("data is nested too deeply to be sent.") from None
    limit = livebell_settings.DATA_MAX_BYTES
    if len(text.encode()) > limit:
        raise ValueError(f"data is {len(text.encode())} bytes as JSON; the limit is {limit}.")
    # Round-trip so the pushed payload equals what the database gives back later
    # (tuples become lists, non-string keys become strings).
    cleaned: dict[str, Any] = json.loads(text)
    # The frames are encoded by orjson, which refuses what json takes: integers
    # outside 64 bits, nesting past 255 levels. Found only at the push, after the
    # INSERT, it rolled the transaction back with a TypeError; so encode data here
    # as a notification frame nests it.
    try:
        protocol.encode({"notification": {"data": cleaned}})
    except orjson.JSONEncodeError as exc:
        raise ValueError(f"data cannot be sent to the sockets: {exc}.") from None
    return cleaned


def _check_user(user: object, role: str, user_model: Any = None) -> Any:
    """``user``'s primary key, once it is known to be a saved user (``user_model``:
    the user model, when the caller looked it up for many users)."""
    user_model = user_model or get_user_model()
    if not isinstance(user, user_model):
        raise TypeError(
            f"{role} must be an instance of {user_model._meta.label}, not {type(user).__name__}."
        )
    if user.pk is None:
        raise TypeError(f"{role} must be saved (it has no primary key).")
    return user.pk


def _recipient_ids(recipients: Recipients) -> list[Any]:
    if recipients is None:
        raise ValueError("notify() needs at least one recipient, got None.")
    if isinstance(recipients, QuerySet):
        if recipients.model is not get_user_model():
            raise TypeError(
                f"recipients must be a QuerySet of {get_user_model()._meta.label}, "
                f"not of {recipients.model._meta.label}."
            )
        ids = list(recipients.order_by().values_list("pk", flat=True))
    elif isinstance(recipients, models.Model):
        ids = [_check_user(recipients, "recipient")]
    elif isinstance(recipients, Iterable) and not isinstance(recipients, (str, bytes, dict)):
        user_model = get_user_model()
        ids = [_check_user(user, "each recipient", user_model) for user in recipients]
    else:
        raise TypeError(
            "recipients must be a user, an iterable of users or a QuerySet of users, "
            f"not {type(recipients).__name__}."
        )
    ids = list(dict.fromkeys(ids))
    if not ids:
        raise ValueError("notify() needs at least one recipient, got none.")
    return ids


def _target_fields(target: object) -> dict[str, Any]:
    if target is None:
        return {}
    if not isinstance(target, models.Model):
        raise TypeError(f"target must be a model instance, not {type(target).__name__}.")
    if target.pk is None:
        raise ValueError("target must be saved (it has no primary key).")
    from django.contrib.contenttypes.models import ContentType

    object_id = str(target.pk)
    if len(object_id) > TARGET_ID_MAX_LENGTH:
        raise ValueError(f"target's primary key is longer than {TARGET_ID_MAX_LENGTH} characters.")
    url = target.get_absolute_url() if hasattr(target, "get_absolute_url") else ""
    if len(url) > TARGET_URL_MAX_LENGTH:
        raise ValueError(f"target's URL is longer than {TARGET_URL_MAX_LENGTH} characters.")
    return {
        "target_content_type": ContentType.objects.get_for_model(target),
        "target_object_id": object_id,
        "target_text": str(target)[:TARGET_TEXT_MAX_LENGTH],
        "target_url": url,
    }
