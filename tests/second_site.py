"""A second site of the test app: its own database and ``SECRET_KEY``, the same code.

For tests of sites that share one Redis (tests/test_shared_redis.py), where the
test process is the first site. The second site's database sits beside the test
database (another file on SQLite, another database on the same server otherwise);
a child process migrates it, and it is dropped at the end. What is done as the
second site runs in a child process configured as that site, like a
``manage.py`` command::

    python -m tests.second_site user ID      # prints a session cookie for user ID
    python -m tests.second_site notify ID    # prints the id of a new notification
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.processes import ROOT, child_env


class SecondSite:
    """Another site: its ``secret_key`` and its database, made (and migrated) by
    :meth:`create`."""

    def __init__(self, name: str, directory: Path, secret_key: str) -> None:
        from django.db import connection

        self.secret_key = secret_key
        self.vendor = connection.vendor
        # On SQLite a path, elsewhere a database name unique to this run.
        self.name = (
            str(directory / f"{name}.sqlite3")
            if self.vendor == "sqlite"
            else f"{connection.settings_dict['NAME']}_{name}_{os.getpid()}"
        )

    @property
    def database_url(self) -> str:
        from tests.conftest import test_database_url

        return test_database_url(self.name)

    def create(self) -> None:
        """Make the database and migrate it (in a child process, as the site would)."""
        self.drop()
        from django.db import connection

        with connection.cursor() as cursor:
            if self.vendor == "postgresql":
                cursor.execute(f'CREATE DATABASE "{self.name}"')
            elif self.vendor == "mysql":
                cursor.execute(f"CREATE DATABASE `{self.name}` CHARACTER SET utf8mb4")
        self.run(["-m", "django", "migrate", "--noinput", "-v", "0"])

    def drop(self) -> None:
        from django.db import connection

        if self.vendor == "sqlite":
            for suffix in ("", "-wal", "-shm"):
                Path(self.name + suffix).unlink(missing_ok=True)
            return
        with connection.cursor() as cursor:
            if self.vendor == "postgresql":
                cursor.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
            else:
                cursor.execute(f"DROP DATABASE IF EXISTS `{self.name}`")

    def env(self) -> dict[str, str]:
        """What a child process needs, besides its channel layer, to be this site."""
        return {"DATABASE_URL": self.database_url, "LIVEBELL_TEST_SECRET_KEY": self.secret_key}

    def run(
        self,
        argv: list[str],
        layer: dict[str, Any] | None = None,
        livebell: dict[str, Any] | None = None,
    ) -> str:
        """Run ``python ARGV`` as this site (``layer``: its channel layer, by default
        an in-memory one); its standard output."""
        layer = layer or {"BACKEND": "channels.layers.InMemoryChannelLayer"}
        done = subprocess.run(
            [sys.executable, *argv],
            env=child_env(layer, livebell, env=self.env()),
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout


def main(command: str, user_id: str) -> None:
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.test import Client

    user_model = get_user_model()
    if command == "user":
        user, _ = user_model.objects.get_or_create(id=int(user_id), username=f"user{user_id}")
        client = Client()
        client.force_login(user)
        print(f"sessionid={client.cookies['sessionid'].value}")
    elif command == "notify":
        from livebell import notify
        from livebell.layer import delivery

        [created] = notify(user_model.objects.get(id=int(user_id)), "from the second site")
        result: dict[str, Any] = {"id": created.pk, "push_failures": delivery.stats.failed}
        print(json.dumps(result))
    else:
        raise SystemExit(f"unknown command {command!r}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
