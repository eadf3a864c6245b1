"""Settings of the hq database test: the same for the real django-notifications-hq
1.8.3 (Django 4.2) and for livebell-notifications-hq (``WITH_LIVEBELL=1``)."""

import os

SECRET_KEY = "hq-database-test"
USE_TZ = True
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": os.environ["HQ_DB"]}}
INSTALLED_APPS = ["django.contrib.auth", "django.contrib.contenttypes", "notifications"]
if os.environ.get("WITH_LIVEBELL"):
    INSTALLED_APPS.append("livebell")
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
DJANGO_NOTIFICATIONS_CONFIG = {"USE_JSONFIELD": True, "SOFT_DELETE": True}
