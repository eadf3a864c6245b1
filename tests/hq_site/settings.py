"""A site that moved from django-notifications-hq: hq's app (the compat package) and
livebell, as docs/migrating-from-django-notifications.md says. Served by
tests/test_notifications_hq_browser.py; its database, secret key and Redis come from
the environment (HQ_SITE_DB, HQ_SITE_SECRET, HQ_SITE_REDIS)."""

import os
from pathlib import Path

SECRET_KEY = os.environ.get("HQ_SITE_SECRET", "hq-site-not-secret")
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.staticfiles",
    "channels",
    "rest_framework",
    "livebell",
    "notifications",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]
ROOT_URLCONF = os.environ.get("HQ_SITE_URLCONF", "tests.hq_site.urls")
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [Path(__file__).resolve().parent / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
            ]
        },
    }
]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("HQ_SITE_DB", ":memory:"),
        "OPTIONS": {"timeout": 20},
    }
}
ASGI_APPLICATION = "tests.hq_site.asgi.application"
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {"hosts": [os.environ.get("HQ_SITE_REDIS", "redis://127.0.0.1:6379/0")]},
    }
}
USE_TZ = True
STATIC_URL = "static/"
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
DJANGO_NOTIFICATIONS_CONFIG = {"USE_JSONFIELD": True}
