"""Test settings: the demo site's, plus a model to use as a notification target.

``DATABASE_URL`` selects the database as for the demo (SQLite when unset).
"""

import json
import os
import tempfile
from pathlib import Path

from demo.settings import *  # noqa: F403

INSTALLED_APPS = [*INSTALLED_APPS, "tests.testapp"]  # noqa: F405
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Processes started by the fault tests get their layer (a private Redis) from the test.
CHANNEL_LAYERS = json.loads(
    os.environ.get("LIVEBELL_TEST_CHANNEL_LAYERS")
    or '{"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}'
)
LOGGING = {"version": 1, "disable_existing_loggers": False}

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    # A file, not Django's default in-memory test database, so that processes the
    # tests start (CLI, ASGI servers) see the same data.
    DATABASES["default"]["TEST"] = {  # noqa: F405
        "NAME": str(Path(tempfile.gettempdir()) / f"livebell-test-{os.getpid()}.sqlite3")
    }

# Threads of the ASGI server and of sync_to_async must not keep connections open
# past the test that opened them (PostgreSQL refuses to drop a database in use).
DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405
