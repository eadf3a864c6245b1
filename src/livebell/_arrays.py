"""Array parameters for PostgreSQL, as ``CAST(%s AS integer[])`` takes them.

psycopg adapts a Python list element by element in Python: about 0.65 ms for
1,000 ints, and a 1,000-recipient ``notify()`` passes six such arrays (the lock,
the INSERT, the state UPDATE). A list of ints is sent instead as the array's text
form, ``{1,2,3}``, which PostgreSQL parses in C (0.1 ms to build). Other values
(UUIDs, strings, ``None``) keep psycopg's adaptation, which quotes them correctly.

Keys (user ids) are prepared for the database with :func:`key_values`, which
skips Django's per-value preparation where it cannot change an int.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import models

__all__ = ["array_parameter", "key_values"]

# Django's own integer fields: for a plain int their get_db_prep_save() returns it
# unchanged (a subclass might not, and goes through it).
_INTEGER_FIELDS = (
    models.AutoField,
    models.BigAutoField,
    models.SmallAutoField,
    models.IntegerField,
    models.BigIntegerField,
    models.SmallIntegerField,
    models.PositiveIntegerField,
    models.PositiveBigIntegerField,
    models.PositiveSmallIntegerField,
)


def array_parameter(values: Sequence[Any]) -> Any:
    """``values`` as a parameter for ``CAST(%s AS <type>[])``: text for plain ints."""
    # type() is, not isinstance(): a bool is an int whose str() PostgreSQL rejects.
    if all(type(value) is int for value in values):
        return "{" + ",".join(map(str, values)) + "}"
    return list(values)


def key_values(field: models.Field[Any, Any], values: Sequence[Any], connection: Any) -> list[Any]:
    """``values`` of ``field`` (a key, or a relation to one) as the database takes them.

    ``get_db_prep_save()`` costs 2 µs a value through a relation: 2 ms for the
    1,000 recipients of a ``notify()``, which prepares them three times (lock,
    INSERT, state UPDATE). Plain ints for one of Django's integer fields are
    already what it would return.
    """
    target = getattr(field, "target_field", field) if field.is_relation else field
    if type(target) in _INTEGER_FIELDS and all(type(value) is int for value in values):
        return list(values)
    return [field.get_db_prep_save(value, connection) for value in values]
