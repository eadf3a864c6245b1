"""The test settings with a user model whose primary key is not an integer.

``LIVEBELL_TEST_USER_PK`` picks it: ``uuid`` (a ``UUIDField``, tests/uuidusers) or
``char`` (a ``CharField``, tests/charusers). ``AUTH_USER_MODEL`` cannot change in a
process once its tables exist, so tests/test_user_pk.py runs the suite written for
these models (tests/user_pk_suite.py) in a pytest of its own with these settings.
"""

import os

from tests.settings import *  # noqa: F403
from tests.settings import DATABASES, INSTALLED_APPS

USER_PK = os.environ.get("LIVEBELL_TEST_USER_PK", "uuid")
if USER_PK not in ("uuid", "char"):
    raise ValueError(f"LIVEBELL_TEST_USER_PK is 'uuid' or 'char', not {USER_PK!r}")

INSTALLED_APPS = [*INSTALLED_APPS, f"tests.{USER_PK}users"]
AUTH_USER_MODEL = f"{USER_PK}users.User"

# A test database of its own, beside the one of the run that started this one.
_test = DATABASES["default"]["TEST"]
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    _test["NAME"] = _test["NAME"].replace(".sqlite3", f"-{USER_PK}.sqlite3")
else:
    _test["NAME"] = f"{_test['NAME']}_{USER_PK}"
