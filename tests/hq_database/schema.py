"""Print the notification table as the database describes it: its columns and its
constraints and indexes (names, columns, kinds), as JSON. Run by livebell's
environment on both databases, so one Django reads both."""

import json

import django

django.setup()

from django.db import connection  # noqa: E402

table = "notifications_notification"
with connection.cursor() as cursor:
    columns = [
        [c.name, str(c.type_code), c.null_ok]
        for c in connection.introspection.get_table_description(cursor, table)
    ]
    constraints = connection.introspection.get_constraints(cursor, table)
print(json.dumps({"columns": columns, "constraints": constraints}, indent=1, sort_keys=True))
