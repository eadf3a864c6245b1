"""Settings of the livebell demo site.

SQLite and the in-memory channel layer by default (one process). Set
``DATABASE_URL`` (postgres://…, mysql://…) and ``REDIS_URL`` (redis://…) to run
several ASGI processes against real servers.
"""

import os
from pathlib import Path

import dj_database_url
import django

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "livebell-demo-not-secret")
DEBUG = os.environ.get("DJANGO_DEBUG", "1") == "1"
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]", "testserver"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "livebell",
    # The database backend of Django's tasks framework (TASKS, below).
    "django_tasks_db",
    "demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The language: the switch's cookie, else the browser's Accept-Language.
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "demo.urls"
ASGI_APPLICATION = "demo.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
            ],
        },
    },
]


def _database() -> dict:
    config = dj_database_url.config(
        default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}", conn_max_age=60, conn_health_checks=True
    )
    if config["ENGINE"] == "django.db.backends.sqlite3":
        # Several threads write at once under ASGI: take the write lock up front
        # and wait for it, instead of failing with "database is locked". The
        # connections stay open (conn_max_age, as on the other databases): opening
        # one, with its PRAGMAs and SQL functions, cost a sixth of a socket's connect.
        config["OPTIONS"] = {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    elif config["ENGINE"] == "django.db.backends.mysql":
        config.setdefault("OPTIONS", {})["charset"] = "utf8mb4"
    return config


DATABASES = {"default": _database()}

if os.environ.get("REDIS_URL"):
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [os.environ["REDIS_URL"]]},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

AUTH_PASSWORD_VALIDATORS = []
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("zh-hans", "简体中文")]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"

# The REST API (livebell.urls, at /api/notifications/). livebell's views need no
# setting here: they require a logged-in user and accept token and session
# authentication by default. drf-spectacular needs its schema class.
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "livebell demo API",
    "DESCRIPTION": "The inbox of the signed-in user. See docs/api.md.",
    "VERSION": "0.1.0",
    # The schema endpoint itself is not part of the API.
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI's files from the drf-spectacular-sidecar package, not from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# livebell emails what stays unread a minute (demo types in apps.py); the demo prints
# it on the console and keeps the last ones for its Emails page (demo/mail.py).
if django.VERSION >= (6, 1):  # MAILERS replaces EMAIL_BACKEND
    MAILERS = {"default": {"BACKEND": "demo.mail.DemoEmailBackend"}}
else:
    EMAIL_BACKEND = "demo.mail.DemoEmailBackend"
DEFAULT_FROM_EMAIL = "Wenda <wenda@example.com>"
# livebell's tasks (web pushes, the email sweep) are rows of the database backend of
# Django's tasks framework, run by its worker once due, never in the request. A site
# runs `manage.py db_worker`; the demo's server runs the same worker in a thread
# (demo/worker.py) unless DEMO_TASK_WORKER is False (the bench's settings, so that
# nothing runs beside its measurements).
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
DEMO_TASK_WORKER = True
# Web push: "Notify me on this device" in the bell (docs/web-push.md).
# DEMO-ONLY KEYS: published with the source, so anyone can sign pushes with them. A real
# site makes its own with `manage.py livebell_vapid` and reads the private key from its
# environment or secret store.
LIVEBELL = {
    "WEB_PUSH_VAPID_PRIVATE_KEY": os.environ.get(
        "LIVEBELL_DEMO_VAPID_PRIVATE_KEY", "Ph1eTNTJC8r2OHy9adJ7xfvgaLo_huiXG_ezSf5Kqbg"
    ),
    "WEB_PUSH_VAPID_PUBLIC_KEY": os.environ.get(
        "LIVEBELL_DEMO_VAPID_PUBLIC_KEY",
        "BGn8Jf2rID8zl71MAYyobjNn247hTohrQOAMZepQbrOih21PA6Pul5i1Msqh3v9H7eaFnsUrQHnee11mTDASiB0",
    ),
    "WEB_PUSH_CONTACT": "mailto:demo@livebell.invalid",
    # Email (above): where its links point, and the language each reader gets it in.
    "SITE_URL": os.environ.get(
        "DEMO_SITE_URL", f"http://127.0.0.1:{os.environ.get('PORT', '8000')}"
    ),
    "EMAIL_LANGUAGE": "demo.mail.email_language",
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"livebell": {"handlers": ["console"], "level": "INFO"}},
}
