"""Production settings of the demo site: what docs/deployment.md shows, checked by
``manage.py check --deploy`` (a test keeps it clean).

``demo.settings`` is for ``make demo`` only: DEBUG on and a SECRET_KEY from the
repository unless ``DJANGO_DEBUG=0`` and ``DJANGO_SECRET_KEY`` say otherwise. These
settings read every secret and host from the environment and refuse to start
without them::

    DJANGO_SETTINGS_MODULE=demo.settings_production
    DJANGO_SECRET_KEY=…            # 50+ random characters
    DJANGO_ALLOWED_HOSTS=notifications.example.com
    REDIS_URL=redis://127.0.0.1:6379
    DATABASE_URL=postgres://…      # SQLite when unset
    LIVEBELL_METRICS_TOKEN=…       # optional: lets a scraper read the metrics
    LIVEBELL_VAPID_PRIVATE_KEY=…   # optional, with the two below: web push (livebell_vapid)
    LIVEBELL_VAPID_PUBLIC_KEY=…
    LIVEBELL_VAPID_CONTACT=mailto:…
    LIVEBELL_SITE_URL=https://…    # optional: emails' links; https:// and the first allowed host

TLS is terminated by the proxy in front (nginx), which sets ``X-Forwarded-Proto``;
uvicorn runs with ``--proxy-headers`` so the socket's scheme is ``wss`` and the
origin check compares ``https://`` origins.
"""

import os

from django.core.exceptions import ImproperlyConfigured

from demo.settings import *  # noqa: F403
from demo.settings import BASE_DIR


def _required(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise ImproperlyConfigured(f"Set {name} in the environment (see docs/deployment.md).")
    return value


SECRET_KEY = _required("DJANGO_SECRET_KEY")
# Every check speaks here.
SILENCED_SYSTEM_CHECKS: list[str] = []
DEBUG = False
ALLOWED_HOSTS = _required("DJANGO_ALLOWED_HOSTS").split(",")
# The socket's origin check and CSRF both accept exactly these origins.
CSRF_TRUSTED_ORIGINS = [f"https://{host}" for host in ALLOWED_HOSTS]

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {"hosts": [_required("REDIS_URL")]},
    }
}

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = True
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_HSTS_SECONDS = 60 * 60 * 24 * 365
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
STATIC_ROOT = BASE_DIR / "static-collected"

LIVEBELL = {
    "METRICS_TOKEN": os.environ.get("LIVEBELL_METRICS_TOKEN") or None,
    # Web push with the site's own keys (manage.py livebell_vapid), never the demo's.
    "WEB_PUSH_VAPID_PRIVATE_KEY": os.environ.get("LIVEBELL_VAPID_PRIVATE_KEY") or None,
    "WEB_PUSH_VAPID_PUBLIC_KEY": os.environ.get("LIVEBELL_VAPID_PUBLIC_KEY") or None,
    "WEB_PUSH_CONTACT": os.environ.get("LIVEBELL_VAPID_CONTACT") or None,
    # Where the links in emails point (docs/email.md). The demo's email backend prints
    # them and keeps the last ones (demo.mail); a real site sets its own mail server.
    "SITE_URL": os.environ.get("LIVEBELL_SITE_URL") or f"https://{ALLOWED_HOSTS[0]}",
    "EMAIL_LANGUAGE": "demo.mail.email_language",
}
