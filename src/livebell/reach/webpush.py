"""Web Push: a user's notifications on the devices they subscribed, when no tab shows them.

- **Keys.** Every push is signed with the site's VAPID key pair (RFC 8292) and
  encrypted to the device's key (RFC 8291, ``aes128gcm``), both by ``pywebpush``.
  The keys and the contact are the ``WEB_PUSH_*`` settings (:mod:`livebell.conf`),
  read when used; ``manage.py livebell_vapid`` makes a pair. Without them web push
  is off: nothing is stored, enqueued or sent.
- **Devices.** A :class:`~livebell.models.WebPushSubscription` per device, unique by
  endpoint, at most :data:`MAX_SUBSCRIPTIONS` per user (the oldest is replaced).
  Endpoints must belong to a push service of ``WEB_PUSH_SERVICES``: the server POSTs
  to them, so a client must not choose where.
- **When.** Once the notifications a ``notify()`` stored are committed
  (:data:`livebell.signals.notification_created` is sent after commit), one task
  (:func:`deliver`, on livebell's task backend, ``TASK_BACKEND``) pushes each typed
  notification to the recipient's devices, if the type's ``web_push`` channel is on
  for them (:func:`livebell.preferences.recipients_with`; muted recipients got no row).
- **Never in the request.** The task is enqueued only on a backend that runs tasks
  later, on a worker (:mod:`livebell.reach.tasks`). On one that cannot (Django's
  default ``ImmediateBackend``, which would run it in the request), nothing is pushed:
  system check ``livebell.E023`` refuses that configuration, and it is logged once.
- **Not twice.** A tab that receives a notification live says so
  (``POST webpush/received/``, :func:`acknowledge`): it is remembered in the cache
  for a while, and the task, deferred by ``WEB_PUSH_DELAY_SECONDS``, skips what was
  acknowledged and what was read. An acknowledgement that comes too late, or a cache
  the worker does not share, costs a duplicate, never a lost notification.
- **Failures.** :func:`send_push` is the one network send. 404 and 410 mean the
  device unsubscribed: its row is deleted. Any other failure keeps it, and the push
  is tried again later (:func:`deliver_again`), once per ``WEB_PUSH_RETRY_DELAYS``
  entry. The device's ``last_success_at`` / ``last_failure_at`` say how it went.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import timedelta
from typing import Any, NamedTuple, TypedDict
from urllib.parse import urlsplit

from django.conf import settings
from django.core.cache import cache
from django.db import router, transaction
from django.urls import NoReverseMatch, reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from livebell import preferences, types
from livebell.conf import livebell_settings
from livebell.ids import MAX_IDS
from livebell.models import (
    WEB_PUSH_ENDPOINT_MAX_LENGTH,
    Channel,
    Notification,
    WebPushSubscription,
)
from livebell.payloads import notification_payload
from livebell.reach import tasks
from livebell.reach.tasks import task

__all__ = [
    "MAX_SUBSCRIPTIONS",
    "SESSION_KEY",
    "PushOutcome",
    "PushPayload",
    "PushResult",
    "SubscriptionError",
    "acknowledge",
    "can_defer",
    "check_endpoint",
    "deliver",
    "deliver_again",
    "device_of_session",
    "enabled",
    "has_devices",
    "on_logout",
    "on_notifications_created",
    "payload",
    "public_key_of",
    "remember_in_session",
    "send_push",
    "subscribe",
    "unsubscribe",
]

logger = logging.getLogger("livebell.webpush")

#: The most devices one user may subscribe; a new one replaces the oldest.
MAX_SUBSCRIPTIONS = 20
#: Notifications per task (a notify() to many users enqueues several).
TASK_CHUNK = 500
#: The longest a retry waits because the push service's Retry-After asked (the
#: waits themselves are ``WEB_PUSH_RETRY_DELAYS``).
RETRY_AFTER_MAX_SECONDS = 3600
#: Bounds of ``WEB_PUSH_RETRY_DELAYS`` (livebell.E025): how many retries, how long each waits.
RETRY_DELAYS_MAX_COUNT = 10
RETRY_DELAY_MAX_SECONDS = 86400
#: How long a tab's "received live" is remembered past the push's delay.
ACK_GRACE_SECONDS = 300
# How long one push service's answer may take.
SEND_TIMEOUT_SECONDS = 10.0
# Browsers' keys: a P-256 point (65 bytes) and a 16-byte auth secret, base64url.
_P256DH_BYTES = 65
_AUTH_BYTES = 16


class SubscriptionError(ValueError):
    """A subscription that cannot be stored: a malformed key, or an endpoint that is not
    one of the push services of ``WEB_PUSH_SERVICES``."""


class PushOutcome(enum.Enum):
    """What the push service did with a push."""

    #: Accepted (2xx).
    DELIVERED = "delivered"
    #: 404 or 410: the device unsubscribed; its subscription is deleted.
    GONE = "gone"
    #: Anything else (a network error, 429, 5xx, 413, ...): kept, tried again later.
    FAILED = "failed"


class PushResult(NamedTuple):
    """The outcome of one push, the push service's HTTP status (None: no answer), and
    how long it asked to wait before trying again (``Retry-After``, seconds)."""

    outcome: PushOutcome
    status: int | None
    retry_after: float | None = None


class PushPayload(TypedDict):
    """What the service worker receives (encrypted), in the device's language."""

    id: int
    title: str
    body: str
    url: str
    tag: str


def enabled() -> bool:
    """Whether web push is configured: the VAPID key pair and the contact are set."""
    return bool(
        livebell_settings.WEB_PUSH_VAPID_PRIVATE_KEY
        and livebell_settings.WEB_PUSH_VAPID_PUBLIC_KEY
        and livebell_settings.WEB_PUSH_CONTACT
    )


# --- Devices ------------------------------------------------------------------------


def subscribe(
    user: Any, endpoint: str, p256dh: str, auth: str, language: str = ""
) -> WebPushSubscription:
    """Store (or refresh) the device ``endpoint`` as one of ``user``'s.

    A device subscribed by another user (logged in on it before) becomes this user's.
    Past :data:`MAX_SUBSCRIPTIONS` the user's oldest device is forgotten.

    Raises:
        SubscriptionError: an endpoint outside ``WEB_PUSH_SERVICES``, or keys that are
            not a P-256 public key and a 16-byte secret in base64url.
    """
    check_endpoint(endpoint)
    _check_key(p256dh, _P256DH_BYTES, "keys.p256dh")
    _check_key(auth, _AUTH_BYTES, "keys.auth")
    user_id = getattr(user, "pk", user)
    digest = hashlib.sha256(endpoint.encode()).hexdigest()
    using = router.db_for_write(WebPushSubscription)
    from django.contrib.auth import get_user_model

    with transaction.atomic(using=using):
        # One user's devices change one at a time, on a lock of the user's row, so two
        # subscribes cannot both pass the bound (as livebell.mutes does).
        users = get_user_model()._default_manager.using(using)
        list(users.select_for_update().filter(pk=user_id).values_list("pk", flat=True))
        subscription, _created = WebPushSubscription.objects.using(using).update_or_create(
            endpoint_digest=digest,
            defaults={
                "user_id": user_id,
                "endpoint": endpoint,
                "p256dh": p256dh,
                "auth": auth,
                "language": language[:16],
            },
        )
        mine = WebPushSubscription.objects.using(using).filter(user_id=user_id)
        surplus = list(
            mine.exclude(pk=subscription.pk)
            .order_by("-id")
            .values_list("pk", flat=True)[MAX_SUBSCRIPTIONS - 1 :]
        )
        if surplus:
            WebPushSubscription.objects.using(using).filter(pk__in=surplus).delete()
    return subscription


#: The session key that lists the devices subscribed with a session (docs/web-push.md).
SESSION_KEY = "livebell.webpush"


def remember_in_session(session: Any, subscription_id: int) -> None:
    """Note in the session that this device was subscribed with it: logging the session
    out forgets the device (:func:`on_logout`), and the bell knows it is on."""
    ids = [i for i in session.get(SESSION_KEY, []) if i != subscription_id]
    session[SESSION_KEY] = [*ids, subscription_id][-MAX_SUBSCRIPTIONS:]


def device_of_session(session: Any) -> int | None:
    """The device subscribed with this session last, if any."""
    ids = session.get(SESSION_KEY, []) if session is not None else []
    return ids[-1] if ids else None


def on_logout(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    """``user_logged_out``: forget the devices subscribed with the session that ends, so
    a shared computer does not go on receiving the user's notifications."""
    session = getattr(request, "session", None)
    if user is None or session is None:
        return
    ids = session.get(SESSION_KEY, [])
    if ids:
        WebPushSubscription.objects.filter(user_id=user.pk, pk__in=ids).delete()


def unsubscribe(user: Any, subscription_id: int) -> bool:
    """Forget ``user``'s device ``subscription_id``; whether it was theirs."""
    user_id = getattr(user, "pk", user)
    deleted, _ = WebPushSubscription.objects.filter(user_id=user_id, pk=subscription_id).delete()
    return bool(deleted)


def check_endpoint(endpoint: str) -> None:
    """Refuse an endpoint that is not a push service of ``WEB_PUSH_SERVICES``.

    Raises:
        SubscriptionError: the endpoint is not an https URL of a listed push service
            (nor under an exact ``http://host:port`` origin listed).
    """
    if not isinstance(endpoint, str) or len(endpoint) > WEB_PUSH_ENDPOINT_MAX_LENGTH:
        raise SubscriptionError(
            f"endpoint must be a URL of at most {WEB_PUSH_ENDPOINT_MAX_LENGTH} characters."
        )
    try:
        parts = urlsplit(endpoint)
        port = parts.port
    except ValueError:
        raise SubscriptionError("endpoint is not a URL.") from None
    host = (parts.hostname or "").lower()
    if parts.username or parts.password or not host:
        raise SubscriptionError("endpoint is not a push service's URL.")
    origin = f"{parts.scheme}://{host}" + (f":{port}" if port else "")
    for service in livebell_settings.WEB_PUSH_SERVICES:
        service = service.lower()
        if service.startswith(("http://", "https://")):
            if origin == service.rstrip("/"):
                return
        elif parts.scheme == "https" and (
            host == service.lstrip(".") if not service.startswith(".") else host.endswith(service)
        ):
            return
    raise SubscriptionError(
        "endpoint is not a URL of a push service this site sends to (WEB_PUSH_SERVICES)."
    )


def _check_key(value: object, size: int, name: str) -> None:
    if not isinstance(value, str) or len(value) > 128:
        raise SubscriptionError(f"{name} must be base64url text.")
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except ValueError:
        raise SubscriptionError(f"{name} must be base64url text.") from None
    if len(raw) != size or (size == _P256DH_BYTES and raw[0] != 4):
        raise SubscriptionError(f"{name} is not a key a browser gives.")


# --- Live tabs ----------------------------------------------------------------------


def _ack_key(notification_id: int) -> str:
    return f"livebell:webpush:received:{notification_id}"


def acknowledge(user: Any, notification_ids: Iterable[int], through: int | None = None) -> int:
    """Remember that an open tab of ``user`` received these notifications live, so they
    are not pushed; how many were the user's. Only the user's own count: a user cannot
    hold back another's pushes.

    ``through``: a ``burst`` frame's ``last_id``, which summed up notifications the tab
    got no frame for: the user's unread ones up to it that are recent enough to be
    pushed still (sent within the push's delay and the grace), at most ``MAX_IDS``,
    the newest, count as received too.
    """
    user_id = getattr(user, "pk", user)
    ids = list(dict.fromkeys(notification_ids))
    if (not ids and not through) or not WebPushSubscription.objects.filter(
        user_id=user_id
    ).exists():
        # No device to push to: nothing to hold back, and nothing written.
        return 0
    timeout = livebell_settings.WEB_PUSH_DELAY_SECONDS + ACK_GRACE_SECONDS
    own = set(
        Notification.objects.filter(recipient_id=user_id, pk__in=ids).values_list("pk", flat=True)
    )
    if through:
        recent = timezone.now() - timedelta(seconds=timeout)
        own.update(
            Notification.objects.filter(
                recipient_id=user_id, pk__lte=through, read_at__isnull=True, created_at__gte=recent
            )
            .order_by("-pk")
            .values_list("pk", flat=True)[:MAX_IDS]
        )
    cache.set_many({_ack_key(pk): 1 for pk in own}, timeout=timeout)
    return len(own)


def has_devices(user: Any) -> bool:
    """Whether web push is on and ``user`` has a device to push to: only then do the
    user's tabs say what they received live (the widget's ``data-webpush-ack``)."""
    user_id = getattr(user, "pk", user)
    return (
        user_id is not None
        and enabled()
        and WebPushSubscription.objects.filter(user_id=user_id).exists()
    )


def _acknowledged(notification_ids: Sequence[int]) -> set[int]:
    found = cache.get_many([_ack_key(pk) for pk in notification_ids])
    return {pk for pk in notification_ids if _ack_key(pk) in found}


# --- Sending ------------------------------------------------------------------------


def on_notifications_created(
    sender: Any, notifications: Sequence[Notification], type: str | None = None, **kwargs: Any
) -> None:
    """Receiver of :data:`livebell.signals.notification_created` (sent after commit):
    enqueue the push of the typed notifications, deferred by ``WEB_PUSH_DELAY_SECONDS``.

    On a task backend that cannot run tasks later nothing is enqueued (it would push
    inside the request): that is logged once per process (``livebell.E023``). A backend
    that fails (down, or a ``TASK_BACKEND`` that ``TASKS`` lacks) is logged and does
    not fail ``notify()``, whose transaction committed.
    """
    if not type or not notifications or not enabled():
        return
    ids = [n.pk for n in notifications]
    try:
        for start in range(0, len(ids), TASK_CHUNK):
            chunk = ids[start : start + TASK_CHUNK]
            if not _enqueue(deliver, livebell_settings.WEB_PUSH_DELAY_SECONDS, chunk):
                return
    except Exception:
        logger.exception("could not enqueue the web push of notifications %s", ids[:10])


# The backend aliases already logged as unable to run pushes later (once per process).
_NOT_DEFERRING_LOGGED: set[str] = set()


def _enqueue(queued: Any, delay: float, *args: Any) -> bool:
    """Enqueue ``queued(*args)`` on livebell's task backend, ``delay`` seconds from now;
    whether it was. Not on a backend that would run it here, in the request: then the
    push is not made, and that is logged once."""
    if tasks.enqueue(queued, *args, delay=delay):
        return True
    alias = tasks.backend_alias()
    if alias not in _NOT_DEFERRING_LOGGED:
        _NOT_DEFERRING_LOGGED.add(alias)
        logger.error(
            'web push is configured but TASKS[%r] (LIVEBELL["TASK_BACKEND"]) cannot run '
            "tasks later, on a worker: no web push is sent, rather than sending them inside "
            'the request (livebell.E023; docs/web-push.md, "Running the worker")',
            alias,
        )
    return False


def can_defer() -> bool:
    """Whether livebell's task backend can run a push later, on a worker (web push
    needs it; system check ``livebell.E023``)."""
    try:
        return tasks.can_defer(deliver)
    except Exception:  # a TASKS alias that is not there: livebell.E024 says so
        return True


def retry_delays() -> list[float]:
    """``WEB_PUSH_RETRY_DELAYS`` as seconds: how long each retry of a failed push waits.

    Raises:
        ValueError: not a list of at most :data:`RETRY_DELAYS_MAX_COUNT` numbers, each
            more than 0 and at most :data:`RETRY_DELAY_MAX_SECONDS` (``livebell.E025``).
    """
    value = livebell_settings.WEB_PUSH_RETRY_DELAYS
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
        raise ValueError("must be a list of seconds, e.g. (30, 120, 480).")
    if len(value) > RETRY_DELAYS_MAX_COUNT:
        raise ValueError(f"allows at most {RETRY_DELAYS_MAX_COUNT} retries.")
    for delay in value:
        if (
            isinstance(delay, bool)
            or not isinstance(delay, (int, float))
            or not 0 < delay <= RETRY_DELAY_MAX_SECONDS
        ):
            raise ValueError(
                f"must hold numbers of seconds above 0 and at most {RETRY_DELAY_MAX_SECONDS}; "
                f"{delay!r} is not."
            )
    return [float(delay) for delay in value]


@task()
def deliver(notification_ids: list[int]) -> int:
    """Push these notifications to their recipients' devices; how many pushes were made.

    Skipped: notifications read or acknowledged by a live tab meanwhile, untyped ones,
    and recipients whose ``web_push`` channel is off for the type.
    """
    if not enabled():
        return 0
    rows = list(
        Notification.objects.filter(pk__in=notification_ids, read_at__isnull=True).exclude(type="")
    )
    received = _acknowledged([n.pk for n in rows])
    rows = [n for n in rows if n.pk not in received]
    wanted: set[tuple[str, Any]] = set()
    by_type: dict[str, list[Any]] = defaultdict(list)
    for n in rows:
        by_type[n.type].append(n.recipient_id)
    for type_key, user_ids in by_type.items():
        try:
            allowed = preferences.recipients_with(type_key, Channel.WEB_PUSH, list(set(user_ids)))
        except types.UnknownType:
            continue  # unregistered since: nothing says it may be pushed
        wanted.update((type_key, u) for u in allowed)
    rows = [n for n in rows if (n.type, n.recipient_id) in wanted]
    devices: dict[Any, list[WebPushSubscription]] = defaultdict(list)
    for device in WebPushSubscription.objects.filter(
        user_id__in={n.recipient_id for n in rows}
    ).order_by("id"):
        devices[device.user_id].append(device)
    pushed = 0
    for n in rows:
        for device in devices[n.recipient_id]:
            _push(device, n, attempt=0)
            pushed += 1
    return pushed


@task()
def deliver_again(subscription_id: int, notification_id: int, attempt: int) -> bool:
    """Try a push that failed once more (``attempt`` counts from 1); whether it was made.

    Not made if the device was forgotten or the notification read meanwhile."""
    device = WebPushSubscription.objects.filter(pk=subscription_id).first()
    row = Notification.objects.filter(pk=notification_id, read_at__isnull=True).first()
    if device is None or row is None or not enabled() or row.recipient_id != device.user_id:
        return False
    _push(device, row, attempt)
    return True


def _push(device: WebPushSubscription, row: Notification, attempt: int) -> PushOutcome:
    result = send_push(device, dict(payload(row, device.language)))
    # A stand-in for send_push (a test's capture) may return nothing: it took the push.
    outcome = result.outcome if isinstance(result, PushResult) else PushOutcome.DELIVERED
    from livebell.metrics import WEB_PUSHES

    WEB_PUSHES.labels(outcome.value).inc()
    if outcome is PushOutcome.DELIVERED:
        WebPushSubscription.objects.filter(pk=device.pk).update(last_success_at=timezone.now())
    elif outcome is PushOutcome.FAILED:
        WebPushSubscription.objects.filter(pk=device.pk).update(last_failure_at=timezone.now())
    if outcome is PushOutcome.GONE:
        WebPushSubscription.objects.filter(pk=device.pk).delete()
        logger.info("web push device %s is gone (HTTP %s): forgotten", device.pk, result.status)
    elif outcome is PushOutcome.FAILED:
        delays = retry_delays()
        retry = attempt < len(delays)
        wait = delays[attempt] if retry else 0.0
        asked = getattr(result, "retry_after", None)
        if asked is not None:
            wait = max(wait, min(asked, RETRY_AFTER_MAX_SECONDS))
        if retry:
            retry = _enqueue(deliver_again, wait, device.pk, row.pk, attempt + 1)
        logger.warning(
            "web push to device %s failed (HTTP %s), attempt %s: %s",
            device.pk,
            result.status,
            attempt + 1,
            f"trying again in {wait:g} s" if retry else "given up",
        )
    return outcome


def payload(row: Notification, language: str = "") -> PushPayload:
    """What is pushed for ``row``: its sentence, its type's label as the title, and the
    link that marks it read and opens its target, in ``language`` (default: the site's)."""
    with translation.override(language or settings.LANGUAGE_CODE):
        text = notification_payload(row)["text"]
        try:
            title = str(types.get(row.type).label) if row.type else ""
        except types.UnknownType:
            title = ""
        try:
            url = reverse("livebell:go", args=[row.pk])
        except NoReverseMatch:  # the API is mounted without its namespace
            url = row.target_url or "/"
        return {
            "id": row.pk,
            "title": title or _("New notification"),
            "body": text,
            "url": url,
            # A merged notification ("alice and 2 others …") replaces its group's on the
            # device, as it does in the bell.
            "tag": f"livebell-{row.group or row.pk}",
        }


def send_push(subscription: WebPushSubscription, payload: dict[str, Any]) -> PushResult:
    """Encrypt ``payload`` (as JSON) to the device and POST it to its push service, signed
    with the site's VAPID key. The one place livebell talks to a push service.

    Never raises for the push service's answer or the network: the outcome says what
    happened (404/410: the device is gone; anything else that is not 2xx: failed).
    """
    import orjson
    from pywebpush import WebPushException, webpush

    info = {
        "endpoint": subscription.endpoint,
        "keys": {"p256dh": subscription.p256dh, "auth": subscription.auth},
    }
    try:
        response = webpush(
            info,
            data=orjson.dumps(payload).decode(),
            vapid_private_key=_vapid_key(),
            # pywebpush adds the audience (the endpoint's origin) and a 12-hour expiry.
            vapid_claims={"sub": livebell_settings.WEB_PUSH_CONTACT},
            content_encoding="aes128gcm",
            ttl=int(livebell_settings.WEB_PUSH_TTL_SECONDS),
            timeout=SEND_TIMEOUT_SECONDS,
        )
    except WebPushException as exc:
        status = getattr(exc.response, "status_code", None)
        if status in (404, 410):
            return PushResult(PushOutcome.GONE, status)
        headers = getattr(exc.response, "headers", None) or {}
        return PushResult(PushOutcome.FAILED, status, _seconds(headers.get("Retry-After")))
    except Exception:  # the network (requests' errors), a malformed key
        logger.exception("web push to device %s could not be sent", subscription.pk)
        return PushResult(PushOutcome.FAILED, None)
    status = getattr(response, "status_code", None)
    if status is not None and not 200 <= status < 300:
        return PushResult(PushOutcome.FAILED, status)
    return PushResult(PushOutcome.DELIVERED, status)


def _seconds(retry_after: str | None) -> float | None:
    """A ``Retry-After`` in seconds (its HTTP-date form is not used by push services)."""
    try:
        return float(retry_after) if retry_after is not None else None
    except ValueError:
        return None


def _vapid_key(key: str | None = None) -> Any:
    """The VAPID private key (of the settings by default), as py_vapid's object; it may
    be given as raw base64url (what ``livebell_vapid`` prints), base64url DER, or PEM."""
    from py_vapid import Vapid

    key = key if key is not None else livebell_settings.WEB_PUSH_VAPID_PRIVATE_KEY
    if not key:
        raise ValueError("WEB_PUSH_VAPID_PRIVATE_KEY is not set.")
    if key.lstrip().startswith("-----BEGIN"):
        return Vapid.from_pem(key.encode())
    return Vapid.from_string(key)


def public_key_of(private_key: str) -> str:
    """The public key (base64url of the uncompressed point, as browsers take it) of a
    VAPID private key in any form ``WEB_PUSH_VAPID_PRIVATE_KEY`` takes.

    Raises:
        Exception: py_vapid's or cryptography's, for a key that cannot be read.
    """
    from cryptography.hazmat.primitives import serialization

    raw = _vapid_key(private_key).public_key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
