"""Settings of the test suite: livebell and what it needs, nothing of the demo site.

``DATABASE_URL`` selects the database (SQLite when unset); processes the tests
start (ASGI servers, senders) get the test database's URL and their channel
layer (``LIVEBELL_TEST_CHANNEL_LAYERS``) from the test, and may get another
``SECRET_KEY`` (``LIVEBELL_TEST_SECRET_KEY``).
"""

import hashlib
import json
import os
import tempfile
from pathlib import Path

import dj_database_url
import django

ROOT = Path(__file__).resolve().parent.parent

# A process a test starts may be another site (tests/test_shared_redis.py).
SECRET_KEY = os.environ.get("LIVEBELL_TEST_SECRET_KEY") or "livebell-tests-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]

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
    "livebell",
    "tests.testapp",
    # The database backend of Django's tasks framework: its table is in every test
    # database; only tests/test_task_worker.py (and the worker it starts) use it.
    "django_tasks_db",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]

ROOT_URLCONF = "tests.urls"
ASGI_APPLICATION = "tests.asgi.application"

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
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.config(default=f"sqlite:///{tempfile.gettempdir()}/livebell-t.db")
}
_database = DATABASES["default"]
# Several checkouts (and their runs) share one database server: each gets its own
# test database, named after the checkout.
_checkout = hashlib.sha256(str(ROOT).encode()).hexdigest()[:8]
if _database["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not Django's in-memory test database, so that processes the tests
    # start see the same data; writers take the lock up front and wait for it.
    _database["TEST"] = {
        "NAME": str(
            Path(tempfile.gettempdir()) / f"livebell-test-{_checkout}-{os.getpid()}.sqlite3"
        )
    }
    _database["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
else:
    _database["TEST"] = {"NAME": f"test_livebell_{_checkout}"}
    if _database["ENGINE"] == "django.db.backends.mysql":
        _database.setdefault("OPTIONS", {})["charset"] = "utf8mb4"
        if os.environ.get("LIVEBELL_TEST_MYSQL_ISOLATION"):
            # Processes started by the contention tests run under the level the test chose.
            _database["OPTIONS"]["isolation_level"] = os.environ["LIVEBELL_TEST_MYSQL_ISOLATION"]
# Threads of the ASGI server and of sync_to_async must not keep connections open
# past the test that opened them (PostgreSQL refuses to drop a database in use).
_database["CONN_MAX_AGE"] = 0

CHANNEL_LAYERS = json.loads(
    os.environ.get("LIVEBELL_TEST_CHANNEL_LAYERS")
    or '{"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}'
)

# A worker process a test starts gets the test's task backend and cache (shared with
# the test: web push's acknowledgements are kept in the cache).
if os.environ.get("LIVEBELL_TEST_TASKS"):
    TASKS = json.loads(os.environ["LIVEBELL_TEST_TASKS"])
if os.environ.get("LIVEBELL_TEST_CACHES"):
    CACHES = json.loads(os.environ["LIVEBELL_TEST_CACHES"])

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
AUTH_PASSWORD_VALIDATORS: list[dict[str, str]] = []
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("zh-hans", "简体中文")]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REST_FRAMEWORK = {"DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema"}
SPECTACULAR_SETTINGS = {
    "TITLE": "livebell test API",
    "VERSION": "0",
    "SERVE_INCLUDE_SCHEMA": False,
}

# Most tests count every frame of a quick series of notifications: storm control off.
# tests/test_storm.py turns it back on, with the defaults. Processes a test starts may
# get their own LIVEBELL settings (over these), and show livebell's log lines (one per
# socket refused or closed) on their stderr for the test to read.
LIVEBELL = {"STORM_THRESHOLD": None, **json.loads(os.environ.get("LIVEBELL_TEST_LIVEBELL") or "{}")}

LOGGING: dict = {"version": 1, "disable_existing_loggers": False}
if os.environ.get("LIVEBELL_TEST_LOG_LEVEL"):
    LOGGING["handlers"] = {"stderr": {"class": "logging.StreamHandler"}}
    LOGGING["loggers"] = {
        "livebell": {"handlers": ["stderr"], "level": os.environ["LIVEBELL_TEST_LOG_LEVEL"]}
    }

# Mail goes to django.core.mail.outbox, as Django's test runner makes it; Django 6.1
# wants that said in MAILERS (its replacement of EMAIL_BACKEND) or warns on each send.
if django.VERSION >= (6, 1):
    MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}
