"""Email for what stays unread: one message per user per sweep, listing what is due.

A type registered with ``email_after=timedelta(minutes=15)`` has each notification
that is still unread 15 minutes after it was sent emailed to its recipient, if their
``email`` preference for the type is on. ``notify()`` records nothing for it; the
sweep (:func:`send_due`) finds the due rows itself, in two steps:

1. **Collect.** For each emailing type, the rows with an id past the type's
   :class:`~livebell.models.EmailMark` and older than the delay are read in id order
   (by primary key: no index of ``notify()``'s to maintain); the unread ones of
   recipients who want email become :class:`~livebell.models.PendingEmail` rows, and
   the mark moves past them all. The mark is locked while this happens
   (``SELECT … FOR UPDATE SKIP LOCKED``: a second sweeper leaves the type to the
   first), so each row is looked at once.
2. **Claim and send.** A short transaction locks the pending rows of a batch of
   users (``SKIP LOCKED``: sweepers on other machines take other users), keeps the
   users whose every due pending row it holds, and deletes their rows; after it
   commits, each user gets one email listing their notifications that are still
   unread, still wanted (preferences, mutes) and not deleted. A row deleted in the
   claim is never claimed again: **no notification is emailed twice**.
3. **Put back.** When the email backend raises, the email was not sent: its rows are
   inserted again, due after :data:`SEND_RETRY_SECONDS` (5 min, 30 min, 2 h; then
   given up, logged), and a sweep is enqueued for then. A process killed between the
   claim and the send (or during it) puts nothing back: that email is lost rather
   than risk sending it twice.

On SQLite, which has one writer at a time, each step's transaction writes first
(a no-op UPDATE of the rows it is about to read), so a second sweeper waits for the
first's commit and then reads what is left.

It runs as a task (:data:`send_due_emails`, on the site's task worker; enqueued
after commit with ``run_after`` for backends that defer) or from cron
(``manage.py livebell_send_digests``); never in a request. See docs/email.md.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any, TypedDict
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import signing
from django.core.exceptions import ImproperlyConfigured
from django.core.mail import EmailMultiAlternatives
from django.db import OperationalError, connections, models, router, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.module_loading import import_string
from django.utils.translation import ngettext

from livebell import preferences, types
from livebell.conf import livebell_settings
from livebell.models import Channel, EmailMark, Mute, Notification, PendingEmail
from livebell.payloads import notification_payload
from livebell.reach import tasks
from livebell.reach.tasks import task

__all__ = [
    "HEADER",
    "UNSUBSCRIBE_SALT",
    "BadUnsubscribeToken",
    "EmailItem",
    "build_message",
    "collect",
    "email_language",
    "email_types",
    "on_notification_created",
    "read_unsubscribe_token",
    "send_due",
    "send_due_emails",
    "site_url",
    "unsubscribe_token",
]

logger = logging.getLogger(__name__)

#: The header every livebell email carries: the ids of the notifications it lists.
HEADER = "X-Livebell-Notifications"
#: The salt of the signed unsubscribe tokens (their own: no other signature of the
#: site's opens them).
UNSUBSCRIBE_SALT = "livebell.reach.email.unsubscribe"
# Notifications read per collecting transaction.
COLLECT_BATCH = 1000
#: How long an email whose send failed waits before each next try, in seconds; after
#: the last one its notifications are not emailed (logged).
SEND_RETRY_SECONDS = (300, 1800, 7200)


class BadUnsubscribeToken(ValueError):
    """An unsubscribe token that is not one livebell signed (or was altered)."""


class EmailItem(TypedDict):
    """One notification as an email lists it."""

    id: int
    text: str
    url: str
    level: str


# --- Settings read when used ------------------------------------------------------------


def email_types() -> list[types.NotificationType]:
    """The registered types that email (``email_after`` is set), in key order."""
    return [kind for kind in types.all_types() if kind.email_after is not None]


def site_url() -> str:
    """``LIVEBELL["SITE_URL"]`` without its trailing slash.

    Raises:
        ImproperlyConfigured: it is not set, or not an http(s) URL (livebell.E006 says
            so at start-up when a type emails).
    """
    url = livebell_settings.SITE_URL
    if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https"):
        raise ImproperlyConfigured(
            'LIVEBELL["SITE_URL"] must be the site\'s address, e.g. "https://example.com", '
            "for the links in livebell's emails."
        )
    return url.rstrip("/")


def email_language(user: Any) -> str:
    """The language ``user``'s email is written in: ``LIVEBELL["EMAIL_LANGUAGE"]``'s
    answer for the user if it names a supported language, else ``LANGUAGE_CODE``."""
    hook: Any = livebell_settings.EMAIL_LANGUAGE
    if isinstance(hook, str):
        hook = import_string(hook)
    chosen = hook(user) if callable(hook) else None
    for code in (chosen, settings.LANGUAGE_CODE):
        if code:
            try:
                return translation.get_supported_language_variant(str(code).lower())
            except LookupError:
                continue
    return str(settings.LANGUAGE_CODE)


# --- Unsubscribing ----------------------------------------------------------------------


def unsubscribe_token(user_id: Any, type_keys: Iterable[str]) -> str:
    """A signed token that turns email off for ``user_id`` and these types (no expiry:
    an unsubscribe link must keep working as long as the email is kept)."""
    return signing.dumps([str(user_id), sorted(set(type_keys))], salt=UNSUBSCRIBE_SALT)


def read_unsubscribe_token(token: str) -> tuple[str, list[str]]:
    """The user id (as a string) and type keys of a token from :func:`unsubscribe_token`.

    Raises:
        BadUnsubscribeToken: not a token livebell signed, or one of another shape.
    """
    try:
        value = signing.loads(token, salt=UNSUBSCRIBE_SALT)
    except signing.BadSignature:
        raise BadUnsubscribeToken("Bad unsubscribe token.") from None
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not isinstance(value[0], str)
        or not isinstance(value[1], list)
        or not all(isinstance(key, str) for key in value[1])
    ):
        raise BadUnsubscribeToken("Bad unsubscribe token.")
    return value[0], value[1]


# --- The message ------------------------------------------------------------------------


def send_message(message: EmailMultiAlternatives) -> None:
    """Send one of livebell's emails through Django's email backend: the one place they
    leave (:mod:`livebell.testing` records them here)."""
    message.send()


def build_message(user: Any, rows: Sequence[Notification]) -> EmailMultiAlternatives:
    """The one email that tells ``user`` about ``rows`` (newest first), in their language.

    One row reads as a normal email (its sentence is the subject); several are a list.
    Each item links to ``…/<id>/go/`` (marks it read and opens its target); the
    ``List-Unsubscribe`` headers (RFC 8058) turn email off for the types listed that
    the user may turn off.

    Raises:
        ImproperlyConfigured: ``LIVEBELL["SITE_URL"]`` is not set.
    """
    base = site_url()
    limit = max(1, int(livebell_settings.EMAIL_MAX_ITEMS))
    optional = sorted({row.type for row in rows if _optional(row.type)})
    unsubscribe = (
        base + reverse("livebell:email-unsubscribe", args=[unsubscribe_token(user.pk, optional)])
        if optional
        else None
    )
    with translation.override(email_language(user)):
        items: list[EmailItem] = [
            {
                "id": row.pk,
                "text": notification_payload(row)["text"],
                "url": base + reverse("livebell:go", args=[row.pk]),
                "level": row.level,
            }
            for row in rows[:limit]
        ]
        site = urlsplit(base).netloc
        if len(rows) == 1:
            subject = items[0]["text"]
        else:
            subject = ngettext(
                "%(count)d unread notification on %(site)s",
                "%(count)d unread notifications on %(site)s",
                len(rows),
            ) % {"count": len(rows), "site": site}
        context = {
            "items": items,
            "more": len(rows) - len(items),
            "count": len(rows),
            "site": site,
            "site_url": base + "/",
            "unsubscribe_url": unsubscribe,
            "subject": subject,
            "LANGUAGE_CODE": translation.get_language(),
        }
        text = render_to_string("livebell/email/unread.txt", context)
        html = render_to_string("livebell/email/unread.html", context)
    headers = {
        HEADER: ",".join(str(row.pk) for row in rows),
        # RFC 3834: no auto-replies ("out of office") to a machine.
        "Auto-Submitted": "auto-generated",
    }
    if unsubscribe:
        headers["List-Unsubscribe"] = f"<{unsubscribe}>"
        headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message = EmailMultiAlternatives(
        subject=" ".join(subject.split()),  # no line break can reach a header
        body=text,
        from_email=livebell_settings.EMAIL_FROM or settings.DEFAULT_FROM_EMAIL,
        to=[_address(user)],
        headers=headers,
    )
    message.attach_alternative(html, "text/html")
    return message


def _optional(type_key: str) -> bool:
    try:
        return types.get(type_key).optional
    except types.UnknownType:
        return False


def _address(user: Any) -> str:
    return str(getattr(user, user.get_email_field_name(), "") or "")


# --- The sweep --------------------------------------------------------------------------


def send_due(now: datetime | None = None, *, using: str | None = None) -> int:
    """Collect what became due and email it, until nothing claimable is left.

    Safe to run on several machines at once (see the module's docstring). Returns how
    many emails were sent.
    """
    now = now or timezone.now()
    using = using or router.db_for_write(PendingEmail)
    if not email_types():
        return 0
    site_url()  # refuse before claiming anything, rather than lose the claimed rows
    collect(now, using=using)
    sent = 0
    passed: set[Any] = set()
    while True:
        claimed = _claim_retrying(using, passed, now)
        if claimed is None:
            return sent
        for user_id, (ids, attempts) in claimed.items():
            sent += _send(using, user_id, ids, attempts, now)


def collect(now: datetime | None = None, *, using: str | None = None) -> int:
    """Queue, for each emailing type, the notifications that became due; how many."""
    now = now or timezone.now()
    using = using or router.db_for_write(PendingEmail)
    horizon = now - timedelta(seconds=livebell_settings.EMAIL_MAX_AGE_SECONDS)
    queued = 0
    for kind in email_types():
        if kind.email_after is None:  # for mypy: email_types() keeps the others only
            continue
        marks = EmailMark.objects.using(using)
        if not marks.filter(type=kind.key).exists():  # the start is looked up once
            marks.get_or_create(type=kind.key, defaults={"last_id": _newest(using, horizon)})
        through = _newest(using, now - kind.email_after)
        more = True
        while more:
            count, more = _collect_step(using, kind.key, through, horizon)
            queued += count
    return queued


def _newest(using: str, before: datetime) -> int:
    """The id of the newest notification (of any type) sent at or before ``before``; 0
    if none. Read backwards by primary key, through the rows sent since ``before``
    only: the scan of a sweep is bounded by the delay, not by the table."""
    older = Notification.objects.using(using).filter(created_at__lte=before).order_by("-id")
    return older.values_list("id", flat=True).first() or 0


def _collect_step(using: str, type_key: str, through: int, horizon: datetime) -> tuple[int, bool]:
    """Read the next batch of a type's rows past its mark, up to id ``through`` (the
    newest row due); how many were queued, and whether more may be left.

    The mark then passes ``through`` even when the type had no row there, so a type
    rarely sent is not read again from its last row at every sweep.
    """
    with transaction.atomic(using=using):
        marks = EmailMark.objects.using(using).filter(type=type_key)
        if _skip_locked(using):
            mark = marks.select_for_update(skip_locked=True).first()
        else:  # SQLite: take the one write lock first (see the module's docstring)
            marks.update(last_id=models.F("last_id"))
            mark = marks.first()
        if mark is None or mark.last_id >= through:
            return 0, False  # another sweeper holds the mark, or nothing new is due
        rows = list(
            Notification.objects.using(using)
            .filter(type=type_key, id__gt=mark.last_id, id__lte=through)
            .order_by("id")
            .values_list("id", "recipient_id", "read_at", "created_at")[:COLLECT_BATCH]
        )
        due = [
            (pk, user)
            for pk, user, read_at, created in rows
            if read_at is None and created > horizon
        ]
        users = list({user for _, user in due})
        wanted = (
            set(preferences.recipients_with(type_key, Channel.EMAIL, users)) if users else set()
        )
        queued = [
            PendingEmail(notification_id=pk, user_id=user) for pk, user in due if user in wanted
        ]
        PendingEmail.objects.using(using).bulk_create(queued, ignore_conflicts=True)
        more = len(rows) == COLLECT_BATCH
        marks.update(last_id=rows[-1][0] if more else through)
    return len(queued), more


#: How many times a claim that the database rolled back to break a deadlock is tried again.
CLAIM_ATTEMPTS = 3
# Errors by which a database says it rolled back the transaction to break a deadlock:
# MySQL/MariaDB's error numbers (ER_LOCK_DEADLOCK) and PostgreSQL's SQLSTATEs.
_DEADLOCK_ERRNOS = frozenset({1213})
_DEADLOCK_SQLSTATES = frozenset({"40P01", "40001"})


def _claim_retrying(
    using: str, passed: set[Any], now: datetime
) -> dict[Any, tuple[list[int], int]] | None:
    """:func:`_claim`, tried again when the database broke a deadlock by rolling it back.

    Two sweepers' claims can deadlock on InnoDB: each holds the rows it locked, and
    deleting them also takes the rows' secondary-index entries, which the other's
    locking read may hold (two-sweeper test on MariaDB, read committed). The victim's
    transaction is rolled back whole, so nothing was claimed, deleted or sent: the
    claim starts again — unless the sweep runs inside a caller's ``atomic()``: there
    the claim is a savepoint, and InnoDB rolled back the caller's whole transaction,
    which only the caller can start again, so the error is raised at once.
    """
    inside_caller = transaction.get_connection(using).in_atomic_block
    for _ in range(0 if inside_caller else CLAIM_ATTEMPTS - 1):
        try:
            return _claim(using, passed, now)
        except OperationalError as exc:
            if not _deadlocked(exc):
                raise
            logger.info("livebell: an email claim was rolled back for a deadlock; claiming again")
    return _claim(using, passed, now)  # the last try: whatever it raises is raised


def _deadlocked(exc: OperationalError) -> bool:
    """Whether ``exc`` is the database breaking a deadlock (the transaction rolled back)."""
    cause = exc.__cause__
    errno = cause.args[0] if cause is not None and cause.args else None
    sqlstate = getattr(cause, "sqlstate", None)
    return errno in _DEADLOCK_ERRNOS or sqlstate in _DEADLOCK_SQLSTATES


def _claim(using: str, passed: set[Any], now: datetime) -> dict[Any, tuple[list[int], int]] | None:
    """Claim the due pending rows of a batch of users: by user, their ids and the most
    failed sends among them. None when no user is left to try; users whose rows
    another sweeper holds are left (in ``passed``) for the next sweep."""
    with transaction.atomic(using=using):
        pending = PendingEmail.objects.using(using).filter(
            models.Q(due_at__isnull=True) | models.Q(due_at__lte=now)
        )
        users = list(
            pending.exclude(user_id__in=passed)
            .order_by("user_id")
            .values_list("user_id", flat=True)
            .distinct()[: livebell_settings.EMAIL_BATCH_USERS]
        )
        if not users:
            return None
        claimed = _hold(pending, users, using)
        passed.update(set(users) - set(claimed))
        PendingEmail.objects.using(using).filter(
            notification_id__in=[pk for ids, _ in claimed.values() for pk in ids]
        ).delete()
    return claimed


def _hold(
    pending: models.QuerySet[PendingEmail], users: list[Any], using: str
) -> dict[Any, tuple[list[int], int]]:
    """Lock the due pending rows of ``users`` that no other sweeper holds; by user, the
    ids (and most failed sends) of the users all of whose due rows this sweeper now
    holds."""
    rows = pending.filter(user_id__in=users)
    if _skip_locked(using):
        locked = rows.select_for_update(skip_locked=True)
    else:  # SQLite: take the one write lock first (see the module's docstring)
        rows.update(user_id=models.F("user_id"))
        locked = rows
    held: dict[Any, list[int]] = defaultdict(list)
    attempts: dict[Any, int] = defaultdict(int)
    for pk, user, tried in locked.values_list("notification_id", "user_id", "attempts"):
        held[user].append(pk)
        attempts[user] = max(attempts[user], tried)
    # One email per user per sweep: a user some of whose rows another sweeper holds
    # (or who got a row since) is left whole for the next sweep.
    totals = dict(
        pending.filter(user_id__in=list(held))
        .values("user_id")
        .annotate(n=models.Count("pk"))
        .values_list("user_id", "n")
    )
    return {
        user: (ids, attempts[user]) for user, ids in held.items() if totals.get(user) == len(ids)
    }


def _skip_locked(using: str) -> bool:
    return bool(connections[using].features.has_select_for_update_skip_locked)


def _send(using: str, user_id: Any, ids: list[int], attempts: int, now: datetime) -> int:
    """Email ``user_id`` what is left of ``ids`` to tell; 1 if an email went, else 0.

    ``attempts``: how many sends of these rows failed before. If this one fails too
    (the email backend raises), the rows are put back, due again later."""
    user = get_user_model()._default_manager.using(using).filter(pk=user_id).first()
    if user is None or not getattr(user, "is_active", True) or not _address(user):
        return 0
    rows = list(
        Notification.objects.using(using)
        .filter(pk__in=ids, recipient_id=user_id, read_at__isnull=True)
        .with_related()
        .order_by("-id")
    )
    rows = _still_wanted(user_id, rows)
    if not rows:
        return 0
    try:
        send_message(build_message(user, rows))
    except Exception:
        # Not sent (a backend reports a failed send by raising): put back, tried later.
        logger.exception("livebell: could not email notifications %s to user %s", ids, user_id)
        _put_back(using, user_id, [row.pk for row in rows], attempts + 1, now)
        return 0
    return 1


def _put_back(using: str, user_id: Any, ids: list[int], attempts: int, now: datetime) -> None:
    """Queue again the rows of an email that failed (their ``attempts``-th failure),
    due after the next wait of :data:`SEND_RETRY_SECONDS`, and enqueue a sweep for
    then; after the last wait, give them up."""
    if attempts > len(SEND_RETRY_SECONDS):
        logger.error(
            "livebell: gave up emailing notifications %s to user %s after %s failed sends",
            ids,
            user_id,
            attempts,
        )
        return
    wait = timedelta(seconds=SEND_RETRY_SECONDS[attempts - 1])
    PendingEmail.objects.using(using).bulk_create(
        [
            PendingEmail(notification_id=pk, user_id=user_id, due_at=now + wait, attempts=attempts)
            for pk in ids
        ],
        ignore_conflicts=True,
    )
    try:
        tasks.enqueue(send_due_emails, delay=wait)
    except Exception:  # the cron command, if the site runs it, still sends them
        logger.exception("livebell: could not enqueue the email sweep")


def _still_wanted(user_id: Any, rows: list[Notification]) -> list[Notification]:
    """The rows whose type still emails and is still on for the user, whose target
    (or its thread) the user has not muted since."""
    kept_types = {
        key
        for key in {row.type for row in rows}
        if _emails(key) and preferences.recipients_with(key, Channel.EMAIL, [user_id])
    }
    rows = [row for row in rows if row.type in kept_types]
    now = timezone.now()
    muted = set(
        Mute.objects.filter(user_id=user_id)
        .filter(models.Q(until__isnull=True) | models.Q(until__gt=now))
        .values_list("target_content_type_id", "target_object_id")
    )
    if not muted:
        return rows
    return [row for row in rows if not muted.intersection(_mute_keys(row))]


def _emails(type_key: str) -> bool:
    try:
        return types.get(type_key).email_after is not None
    except types.UnknownType:
        return False


def _mute_keys(row: Notification) -> list[tuple[int, str]]:
    if row.target_content_type_id is None:
        return []
    keys = [(row.target_content_type_id, row.target_object_id)]
    target = row.target
    thread_of = getattr(target, "livebell_thread", None)
    thread = thread_of() if callable(thread_of) else None
    if isinstance(thread, models.Model) and thread.pk is not None:
        from django.contrib.contenttypes.models import ContentType

        keys.append((ContentType.objects.get_for_model(thread).pk, str(thread.pk)))
    return keys


# --- The task, and when it is enqueued --------------------------------------------------


@task()
def send_due_emails() -> int:
    """The sweep as a task of Django's tasks framework: :func:`send_due`."""
    return send_due()


def on_notification_created(
    sender: Any, *, notifications: list[Notification], type: str | None, **kwargs: Any
) -> None:
    """Enqueue a sweep for when this call's notifications become due (one per call,
    not per row), on livebell's task backend (``TASK_BACKEND``) if it can run a task
    later; with others, the cron command picks them up. Connected to
    :data:`livebell.signals.notification_created`, which is sent after commit."""
    if not type or not _emails(type):
        return
    kind = types.get(type)
    if kind.email_after is None:  # for mypy: _emails() said it is set
        return
    try:
        # Not on an immediate backend: it would run the sweep here, in the request.
        tasks.enqueue(send_due_emails, delay=kind.email_after)
    except Exception:
        # A task backend that is down must not fail notify(): the cron command, if
        # the site runs it, still sends these.
        logger.exception("livebell: could not enqueue the email sweep")
