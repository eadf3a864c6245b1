"""Settings of the hq database test: the same for the real django-notifications-hq
1.8.3 (Django 4.2) and for livebell-notifications-hq (``WITH_LIVEBELL=1``).

``HQ_DB`` is a SQLite file, or ``postgresql://user@host:port/name`` or
``mysql://user@host:port/name``.
"""

import os
from urllib.parse import urlsplit

SECRET_KEY = "hq-database-test"
USE_TZ = True
_url = urlsplit(os.environ["HQ_DB"])
if _url.scheme in ("postgresql", "mysql"):
    _default = {
        "ENGINE": f"django.db.backends.{_url.scheme}",
        "NAME": _url.path.lstrip("/"),
        "USER": _url.username or "",
        "HOST": _url.hostname,
        "PORT": str(_url.port or ""),
    }
    if _url.scheme == "mysql":
        _default["OPTIONS"] = {"charset": "utf8mb4"}
else:
    _default = {"ENGINE": "django.db.backends.sqlite3", "NAME": os.environ["HQ_DB"]}
DATABASES = {"default": _default}
INSTALLED_APPS = ["django.contrib.auth", "django.contrib.contenttypes", "notifications"]
if os.environ.get("WITH_LIVEBELL"):
    INSTALLED_APPS.append("livebell")
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
DJANGO_NOTIFICATIONS_CONFIG = {"USE_JSONFIELD": True, "SOFT_DELETE": True}
