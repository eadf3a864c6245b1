"""livebell's settings: one ``LIVEBELL`` dict in the Django settings, read lazily.

Values are looked up on first use and cached until Django's ``setting_changed``
signal says ``LIVEBELL`` changed, so ``override_settings(LIVEBELL=...)`` works in
tests and nothing is read at import time.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings as django_settings
from django.core.signals import setting_changed
from django.dispatch import receiver

__all__ = ["DEFAULTS", "livebell_settings"]

DEFAULTS: dict[str, Any] = {
    # Alias in CHANNEL_LAYERS that carries livebell's pushes.
    "CHANNEL_LAYER": "default",
    # Alias in TASKS of the task backend livebell's tasks (email sweeps, web pushes)
    # are enqueued on (livebell.E024 checks it exists). Sending is enqueued only on a
    # backend that runs tasks later, on a worker (livebell.reach.tasks).
    "TASK_BACKEND": "default",
    # Prefix of the channel-layer group names. None: "livebell." and a keyed hash of
    # SECRET_KEY (livebell.layer.groups.site_key), so that sites sharing one Redis never share
    # a group without anyone choosing a prefix: Redis pub/sub ignores the database
    # number. Every process of a site must run with the same SECRET_KEY (the key also
    # stamps every layer message, whatever the prefix): while processes run with two
    # keys, pushes sent by one side reach no socket of the other. They are stored, so
    # clients get them when they reconnect, or with the next push that reaches them.
    # A string (ASCII letters, digits, "_", "." or "-", at most 34 characters) is used
    # as it is.
    "GROUP_PREFIX": None,
    # Largest ``data`` accepted by notify(), measured as compact JSON, in bytes.
    "DATA_MAX_BYTES": 8192,
    # Rows per INSERT statement when notifying many recipients at once.
    "BATCH_SIZE": 1000,
    # Largest text frame a client may send; larger frames get an error event.
    "MAX_FRAME_BYTES": 4096,
    # Token bucket for client frames: a sustained rate per second and a burst size.
    "RATE_LIMIT_PER_SECOND": 10.0,
    "RATE_LIMIT_BURST": 30,
    # Most notifications replayed on resume; past it the newest are sent and the
    # client is told to refetch the list (``"truncated": true``).
    "RESUME_MAX": 500,
    # Every socket checks that its session is still valid this often (and when a
    # database-backed session expires). Logout, password changes, deactivation and
    # deletion close sockets at once; this catches sessions ended any other way.
    "SESSION_CHECK_SECONDS": 300,
    # Client frames per second (and burst) of one user, across all their sockets in
    # one server process: more sockets do not buy more frames.
    "USER_RATE_LIMIT_PER_SECOND": 20.0,
    "USER_RATE_LIMIT_BURST": 60,
    # A socket that keeps sending over the rate limit is closed with 4429: it may send
    # this many frames over the limit in a burst, forgiven at one per second.
    "FLOOD_CLOSE_AFTER": 20,
    # Most sockets one user may hold open in one server process; more are closed with 4409.
    "MAX_SOCKETS_PER_USER": 20,
    # Notifications a user's catch-ups may send, per server process: a burst, and the
    # rate at which it refills. Past it catch-ups are truncated (``"truncated": true``).
    "CATCH_UP_BUDGET": 2000,
    "CATCH_UP_BUDGET_PER_SECOND": 50.0,
    # Messages from the channel layer that may wait for one socket; a socket that falls
    # further behind is closed with 1013 (it reconnects and catches up from the database).
    "MAX_PENDING_MESSAGES": 500,
    # How long sending one frame may wait for a client that does not read; then 1013.
    "SEND_TIMEOUT_SECONDS": 10.0,
    # An event stream (GET stream/) sends a comment line when it sent nothing for this
    # long, so proxies keep it open and the client sees it is alive.
    "STREAM_HEARTBEAT_SECONDS": 15.0,
    # How long a socket ticket (POST socket-ticket/) stays valid, in seconds.
    "TICKET_MAX_AGE_SECONDS": 30,
    # A bearer token that may read the metrics endpoint (besides staff users); None: staff only.
    "METRICS_TOKEN": None,
    # Notification types declared in settings rather than with livebell.types.register():
    # {"answer.created": {"template": _("..."), "label": _("..."), ...}}.
    "TYPES": {},
    # Storm control: when one socket gets more than STORM_THRESHOLD notifications within
    # STORM_WINDOW_SECONDS, the rest of the burst is summed up in one "burst" frame.
    # None: every notification is a frame of its own (benchmarks, tests of throughput).
    "STORM_THRESHOLD": 10,
    "STORM_WINDOW_SECONDS": 10.0,
    # Retention, for the periodic task livebell.retention.prune_old_notifications
    # (``manage.py livebell_prune`` takes its own arguments): notifications older than
    # this go ("90d", "12h", "30m", or a timedelta); only read ones with PRUNE_READ_ONLY;
    # PRUNE_BATCH rows per transaction, so a notify() to the same users waits at most
    # for one batch. Nothing is deleted unless the site schedules the task.
    "PRUNE_OLDER_THAN": "90d",
    "PRUNE_READ_ONLY": False,
    "PRUNE_BATCH": 5000,
    # Web Push (livebell.reach.webpush, docs/web-push.md). The VAPID key pair that signs
    # every push (``manage.py livebell_vapid`` makes one): the private key as the
    # base64url of its raw 32 bytes (or a PEM), the public key as the base64url of its
    # uncompressed point, which browsers are given to subscribe. None: web push is off.
    "WEB_PUSH_VAPID_PRIVATE_KEY": None,
    "WEB_PUSH_VAPID_PUBLIC_KEY": None,
    # Who push services may contact about this site's pushes ("mailto:ops@example.com"
    # or an https URL); the ``sub`` of every VAPID token. Required with the keys.
    "WEB_PUSH_CONTACT": None,
    # How long a push may wait in the push service for an offline device, in seconds.
    "WEB_PUSH_TTL_SECONDS": 86400,
    # How long after commit a push waits for an open tab to say it received the
    # notification live (then it is not pushed), when the task backend can defer
    # tasks; 0: pushed at once (nothing can then be acknowledged in time).
    "WEB_PUSH_DELAY_SECONDS": 10,
    # A push the push service refused for another reason than 404/410 (it is down,
    # 429, 5xx) is tried again once per entry, after that many seconds (or as long as
    # the push service's Retry-After asks, up to an hour): at most 10 entries, each
    # more than 0 and at most a day (livebell.E025). (): never tried again.
    "WEB_PUSH_RETRY_DELAYS": (30, 120, 480),
    # The push services livebell sends to: a host ("fcm.googleapis.com"), a suffix of
    # hosts (".push.apple.com"), over https; or an exact "http://host:port" origin
    # (tests, a local stand-in). A subscription to any other endpoint is refused, so a
    # client cannot make the server POST to a URL of its choice.
    "WEB_PUSH_SERVICES": (
        "fcm.googleapis.com",
        ".push.services.mozilla.com",
        ".push.apple.com",
        ".notify.windows.com",
    ),
    # The site's address as its readers reach it, e.g. "https://example.com": emails
    # link to it (the go/ links, the unsubscribe page) and no request is there to say
    # it. Required once a type emails (livebell.E006).
    "SITE_URL": None,
    # The sender of livebell's emails; None: settings.DEFAULT_FROM_EMAIL.
    "EMAIL_FROM": None,
    # The language a user's email is written in: a callable taking the user and
    # returning a language code (or None), or its dotted path. None, or a None from
    # it: settings.LANGUAGE_CODE. No request is there to ask the browser.
    "EMAIL_LANGUAGE": None,
    # The most notifications one email lists; the rest are counted ("and 3 more").
    "EMAIL_MAX_ITEMS": 20,
    # Unread notifications older than this when the sweep reaches them are not
    # emailed: a worker down for a week does not send a week of stale mail.
    "EMAIL_MAX_AGE_SECONDS": 86400,
    # Users whose emails one sweep step claims in one short transaction.
    "EMAIL_BATCH_USERS": 100,
}


class LivebellSettings:
    """Attribute access to ``settings.LIVEBELL`` merged over :data:`DEFAULTS`."""

    def __init__(self) -> None:
        self._cache: dict[str, Any] | None = None

    def _load(self) -> dict[str, Any]:
        user = getattr(django_settings, "LIVEBELL", None) or {}
        if not isinstance(user, dict):
            raise TypeError(f"settings.LIVEBELL must be a dict, not {type(user).__name__}")
        unknown = set(user) - set(DEFAULTS)
        if unknown:
            raise KeyError(
                f"Unknown LIVEBELL setting(s): {', '.join(sorted(unknown))}. "
                f"Known: {', '.join(sorted(DEFAULTS))}."
            )
        return {**DEFAULTS, **user}

    def __getattr__(self, name: str) -> Any:
        if name not in DEFAULTS:
            raise AttributeError(f"Unknown LIVEBELL setting {name!r}")
        if self._cache is None:
            self._cache = self._load()
        return self._cache[name]

    def reload(self) -> None:
        """Forget cached values; the next access reads ``settings.LIVEBELL`` again."""
        self._cache = None


livebell_settings = LivebellSettings()


@receiver(setting_changed)
def _reload_on_change(*, setting: str, **kwargs: Any) -> None:
    if setting == "LIVEBELL":
        livebell_settings.reload()
