"""Who acted: the actors a notification stores, and what a reader sees of them.

A notification keeps its newest actor as a foreign key (``actor``, set to null when
that user is deleted) and, in ``actors``, a JSON list of its latest actors (several
once notifications merged, see :mod:`livebell.storage.inserts`), each
``{"id": key, "username": name}``. A user's key is written to JSON by
:func:`json_key`: an integer primary key as a number, any other (a UUID, a string)
as a string.

Names are not trusted as stored. A renamed user is shown by the current name: the
foreign key brings it, and :func:`refresh` looks up the other actors of merged rows
(one query per page of rows, none for rows that never merged). A deleted account
is a *ghost*, as on GitHub: :func:`forget` replaces the user's entries in every
stored list when the user is deleted (so the name is not kept), an actor that no
longer exists when read is one too, and every ghost reads as a translatable word
("ghost") with a null ``id``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, TypedDict

from django.contrib.auth import get_user_model
from django.db import connections, models, router
from django.utils.translation import pgettext

if TYPE_CHECKING:
    from livebell.models import Notification

__all__ = [
    "ActorPayload",
    "entry",
    "forget",
    "ghost",
    "is_ghost",
    "json_key",
    "payload_of",
    "refresh",
]

# Rows rewritten per statement when a user is deleted.
_CHUNK = 500


class ActorPayload(TypedDict):
    """An actor as the socket and the REST API send it."""

    #: The user's primary key (:func:`json_key`); null for a deleted account.
    id: Any
    username: str


def json_key(pk: Any) -> Any:
    """A user's primary key as JSON holds it: an int as it is, any other as ``str()``
    (a UUID in its hyphenated form, which orjson and DRF write alike)."""
    if pk is None or type(pk) is int:
        return pk
    return str(pk)


def entry(user: Any) -> ActorPayload:
    """The stored (and sent) entry of ``user``, with the current name."""
    return {"id": json_key(user.pk), "username": user.get_username()}


def ghost() -> ActorPayload:
    """A deleted account, named in the active language."""
    # The context tells translators it stands for a deleted user, not a spirit.
    return {"id": None, "username": pgettext("deleted user", "ghost")}


def is_ghost(actor: Any) -> bool:
    """Whether a stored or sent actor entry is a deleted account."""
    return isinstance(actor, dict) and actor.get("id") is None


def payload_of(notification: Notification) -> tuple[ActorPayload | None, list[ActorPayload]]:
    """The ``actor`` and ``actors`` a reader sees of ``notification``, in the active
    language: the loaded actor by its current name, a deleted one as a ghost.

    Costs no query when the actor is loaded (``with_related()``, or rows made by
    ``notify()``); the other actors of a merged row are as :func:`refresh` left them.
    """
    stored: Sequence[Any] = notification.actors or ()
    actor: ActorPayload | None = None
    if notification.actor_id is not None:
        actor = entry(notification.actor)
    elif stored:
        # The row had an actor (its entry is stored) and the foreign key was cleared:
        # the user was deleted.
        actor = ghost()
    if not stored:
        return actor, [actor] if actor is not None else []
    key = None if actor is None else actor["id"]
    shown: list[ActorPayload] = []
    for index, item in enumerate(stored):
        if not isinstance(item, dict) or item.get("id") is None:
            shown.append(ghost())
        elif actor is not None and (item["id"] == key or (index == 0 and key is None)):
            # The newest actor: its current name (or its ghost) from the foreign key.
            shown.append(actor)
        else:
            shown.append({"id": item["id"], "username": str(item.get("username", ""))})
    return actor, shown


def refresh(rows: Iterable[Notification], using: str | None = None) -> None:
    """Bring the stored actors of merged ``rows`` up to date, in one query: each by its
    current name, a user who no longer exists as a ghost entry.

    Rows with at most one actor need nothing (their foreign key has the current
    name). Each changed row gets a new list: the rows of one ``notify()`` share one.
    """
    merged = [row for row in rows if row.actors and len(row.actors) > 1]
    if not merged:
        return
    wanted = {
        item["id"]
        for row in merged
        for item in row.actors
        if isinstance(item, dict) and item.get("id") is not None
    }
    if not wanted:
        return
    user_model = get_user_model()
    using = using or router.db_for_read(user_model)
    names: dict[Any, str] = {}
    pk = user_model._meta.pk
    assert pk is not None
    keys = []
    for key in wanted:
        try:
            keys.append(pk.to_python(key))
        except Exception:  # a key of another user model, stored before a change of it
            continue
    for user in user_model._default_manager.using(using).filter(pk__in=keys):
        names[json_key(user.pk)] = user.get_username()
    for row in merged:
        fresh = []
        for item in row.actors:
            known = isinstance(item, dict) and item.get("id") in names
            fresh.append(
                {"id": item["id"], "username": names[item["id"]]} if known else _ghost_entry()
            )
        if fresh != row.actors:
            row.actors = fresh


def _ghost_entry() -> dict[str, Any]:
    """A deleted account as stored: no id, no name (the name is given when read)."""
    return {"id": None, "username": ""}


def forget(user: Any, using: str | None = None) -> int:
    """Replace ``user``'s entries in every stored ``actors`` list with a ghost entry;
    how many rows changed. Called as the user is deleted (``pre_delete``), in the
    deletion's transaction.

    The rows whose newest actor is the user are found by the foreign key's index;
    older actors of merged rows, with a JSON containment test where the database
    has one (PostgreSQL, MariaDB, MySQL) and on SQLite by reading the merged rows.
    """
    from livebell.models import Notification

    using = using or router.db_for_write(Notification)
    key = json_key(user.pk)
    condition = models.Q(actor_id=user.pk)
    if connections[using].features.supports_json_field_contains:
        condition |= models.Q(count__gt=1, actors__contains=[{"id": key}])
    else:
        condition |= models.Q(count__gt=1)
    changed: list[Notification] = []
    found = Notification.objects.using(using).filter(condition).only("id", "actors")
    for row in found.iterator(chunk_size=_CHUNK):
        stored = row.actors if isinstance(row.actors, list) else []
        kept = [
            _ghost_entry() if isinstance(item, dict) and item.get("id") == key else item
            for item in stored
        ]
        if kept != stored:
            row.actors = kept
            changed.append(row)
    for start in range(0, len(changed), _CHUNK):
        Notification.objects.using(using).bulk_update(
            changed[start : start + _CHUNK], ["actors"], batch_size=_CHUNK
        )
    return len(changed)


def on_user_deleting(sender: Any, instance: Any, **kwargs: Any) -> None:
    """``pre_delete`` receiver of the user model: :func:`forget` the user."""
    forget(instance, kwargs.get("using"))
