"""Settings of the openwisp-notifications project: what its apps and socket need.

The apps and their order are those of openwisp-notifications' setup docs and test
project; its recommended channel layer (``RedisChannelLayer``, with the capacity
and expiries of its test project) and cache (Redis: it caches unread counts,
related objects and notification-storm flags there) on the bench's private Redis.
Two departures, both to measure every frame like the other targets: its
notification-storm prevention is off (thresholds no run reaches), as livebell's
storm control is in the bench; and sessions are in the database, where the bench
writes them.
"""

from bench.peers.settings_base import ALLOWED_HOSTS, SECRET_KEY, database, redis_url

__all__ = ["ALLOWED_HOSTS", "SECRET_KEY"]

DEBUG = False
BENCH_SCHEMA = "peer_openwisp"

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.sites",
    "openwisp_users.accounts",
    "allauth",
    "allauth.account",
    "allauth.socialaccount",
    "django_filters",
    "openwisp_users",
    "openwisp_notifications",
    "openwisp_utils.admin_theme",
    "admin_auto_filters",
    "django.contrib.admin",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_yasg",
    "channels",
    "bench.peers.openwisp.apps.BenchOpenwispConfig",
]
AUTH_USER_MODEL = "openwisp_users.User"
SITE_ID = 1

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
ROOT_URLCONF = "bench.peers.openwisp.urls"
ASGI_APPLICATION = "bench.peers.openwisp.asgi.application"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
STATIC_URL = "/static/"

DATABASES = {"default": database(BENCH_SCHEMA)}
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": redis_url(1),
    }
}
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            # redis-py 8's 5-second read timeout fails idle blocking receives.
            "hosts": [{"address": redis_url(0), "socket_timeout": None}],
            "group_expiry": 3600,
            "capacity": 1000,
            "expiry": 30,
        },
    }
}

CELERY_TASK_ALWAYS_EAGER = True
CELERY_BROKER_URL = "memory://"

OPENWISP_NOTIFICATIONS_NOTIFICATION_STORM_PREVENTION = {
    "short_term_time_period": 10,
    "short_term_notification_count": 10**9,
    "long_term_time_period": 180,
    "long_term_notification_count": 10**9,
    "initial_backoff": 1,
    "backoff_increment": 1,
    "max_allowed_backoff": 15,
}
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"

USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
