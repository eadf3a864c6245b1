"""Settings of the django-notifications-community project: its app and its views' needs."""

from bench.peers.settings_base import ALLOWED_HOSTS, SECRET_KEY, database

__all__ = ["ALLOWED_HOSTS", "SECRET_KEY"]

DEBUG = False
BENCH_SCHEMA = "peer_community"

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "notifications",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]
ROOT_URLCONF = "bench.peers.community.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": ["django.contrib.auth.context_processors.auth"]},
    }
]
DATABASES = {"default": database(BENCH_SCHEMA)}

USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
