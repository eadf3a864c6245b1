"""Parameters for PostgreSQL: arrays as ``CAST(%s AS integer[])`` takes them, and
model values as the database takes them, at a cost that does not grow with a
notification's recipients or a group commit's calls.

psycopg adapts a Python list element by element in Python, and a ``notify()`` to
many users passes six such arrays (the lock, the INSERT, the state UPDATE). A list
of ints is sent instead as the array's text form, ``{1,2,3}``, which PostgreSQL
parses in C and Python builds in one join; so are the
datetimes in UTC and the JSON values of a group commit's calls (their creation
times and ``data``). Other values (UUIDs, strings, ``None``) keep psycopg's
adaptation, which quotes them correctly.

Values are prepared for the database with :func:`db_value` and
:func:`key_values`, which skip Django's per-value preparation where it cannot
change the value.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from django.db import models

_Jsonb: Any
try:
    from psycopg.types.json import Jsonb as _Jsonb
except ImportError:  # no psycopg: not on PostgreSQL
    _Jsonb = None

__all__ = [
    "array_parameter",
    "cast_type",
    "db_value",
    "has_json_table",
    "holds_integers",
    "key_values",
]

# Django's own integer fields: for a plain int their get_db_prep_save() returns it
# unchanged (a subclass might not, and goes through it).
_INTEGER_FIELDS: frozenset[type] = frozenset(
    {
        models.AutoField,
        models.BigAutoField,
        models.SmallAutoField,
        models.IntegerField,
        models.BigIntegerField,
        models.SmallIntegerField,
        models.PositiveIntegerField,
        models.PositiveBigIntegerField,
        models.PositiveSmallIntegerField,
    }
)
# Django's own text fields, which return a str unchanged.
_TEXT_FIELDS: frozenset[type] = frozenset({models.CharField, models.TextField})
_PLAIN_FIELDS = _INTEGER_FIELDS | _TEXT_FIELDS

_NO_OFFSET = timedelta(0)


def array_parameter(values: Sequence[Any]) -> Any:
    """``values`` as a parameter for ``CAST(%s AS <type>[])``: text for plain ints and
    for datetimes in UTC (or naive, which PostgreSQL reads in the session's zone, as
    it reads psycopg's)."""
    # type() is, not isinstance(): a bool is an int whose str() PostgreSQL rejects.
    if all(type(value) is int for value in values):
        return "{" + ",".join(map(str, values)) + "}"
    if all(type(value) is datetime and value.utcoffset() in (None, _NO_OFFSET) for value in values):
        # ISO 8601 has no character that an array's text form would need to quote.
        return "{" + ",".join(value.isoformat() for value in values) + "}"
    if _Jsonb is not None and all(type(v) is _Jsonb and v.dumps is not None for v in values):
        # What Django's JSONField gives psycopg: the value and the field's json.dumps.
        return "{" + ",".join(_quoted(value.dumps(value.obj)) for value in values) + "}"
    return list(values)


def _quoted(text: str) -> str:
    """An element of an array's text form: in double quotes, ``\\`` and ``"`` escaped."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def cast_type(field: models.Field[Any, Any], connection: Any) -> str:
    """The type to ``CAST(%s AS …)`` a value (or ``…[]`` an array) of ``field`` to on
    PostgreSQL: the column's type, but ``text`` for a string of bounded length.

    A cast to ``varchar(n)`` cuts a longer string to ``n`` characters without a word
    (as SQL says explicit casts do); cast to ``text``, a value too long for its
    column is refused by the column (``value too long for type character
    varying(n)``), so the database backs every length check made in Python.
    """
    if issubclass(_kind(field), models.CharField):  # a key: the target's type
        return "text"
    db_type = field.db_type(connection)
    assert db_type is not None  # a concrete column
    return db_type


def db_value(field: models.Field[Any, Any], value: Any, connection: Any) -> Any:
    """``field.get_db_prep_save(value, connection)``, without its cost where it would
    return ``value`` unchanged: a str for one of Django's text fields, an int for one
    of its integer fields or a relation to one, ``None`` for a nullable one of those,
    and on PostgreSQL an aware datetime for a ``DateTimeField``.

    Django's preparation, for the 15 columns of each call's notification, was a
    noticeable share of a group commit's time.
    """
    kind = _kind(field)
    if (
        (type(value) is str and kind in _TEXT_FIELDS)
        or (type(value) is int and kind in _INTEGER_FIELDS)
        or (value is None and field.null and kind in _PLAIN_FIELDS)
        # PostgreSQL takes an aware datetime as it is (other databases convert it).
        or (
            type(value) is datetime
            and kind is models.DateTimeField
            and value.tzinfo is not None
            and connection.vendor == "postgresql"
        )
    ):
        return value
    return field.get_db_prep_save(value, connection)


def key_values(field: models.Field[Any, Any], values: Sequence[Any], connection: Any) -> list[Any]:
    """``values`` of ``field`` (a key, or a relation to one) as the database takes them.

    ``get_db_prep_save()`` through a relation is costly per value, and a
    ``notify()`` prepares its recipients three times (lock, INSERT, state UPDATE).
    Plain ints for one of Django's integer fields are
    already what it would return.
    """
    if _kind(field) in _INTEGER_FIELDS and all(type(value) is int for value in values):
        return list(values)
    return [field.get_db_prep_save(value, connection) for value in values]


def has_json_table(connection: Any) -> bool:
    """Whether this MySQL or MariaDB server has ``JSON_TABLE`` (MySQL 8, MariaDB 10.6+),
    which turns one JSON parameter into rows."""
    return connection.vendor == "mysql" and (
        not connection.mysql_is_mariadb or connection.mysql_version >= (10, 6)
    )


def holds_integers(field: models.Field[Any, Any]) -> bool:
    """Whether ``field`` (a key, or a relation to one) is one of Django's integer fields."""
    return _kind(field) in _INTEGER_FIELDS


def _kind(field: models.Field[Any, Any]) -> type:
    """The class of the field whose values ``field`` holds: its own, or for a relation
    the target's (a foreign key holds the target's key)."""
    target = getattr(field, "target_field", field) if field.is_relation else field
    return type(target)
