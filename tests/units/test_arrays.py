"""PostgreSQL's array parameters: ints, UTC datetimes and JSON as the array's text form."""

from __future__ import annotations

from livebell.storage._arrays import array_parameter


def test_int_arrays_go_as_text_and_anything_else_as_a_list() -> None:
    import uuid

    assert array_parameter([3, 1, 20]) == "{3,1,20}"
    assert array_parameter([]) == "{}"
    assert array_parameter([-5, 2**40]) == "{-5,1099511627776}"
    # psycopg quotes these itself; a bool's str() would be no PostgreSQL integer.
    key = uuid.uuid4()
    assert array_parameter([key]) == [key]
    assert array_parameter(['a"b', "c,d"]) == ['a"b', "c,d"]
    assert array_parameter([1, True]) == [1, True]
    assert array_parameter((1, None)) == [1, None]


def test_datetimes_in_utc_and_json_go_as_text_other_zones_as_a_list() -> None:
    import json
    from datetime import UTC, datetime, timedelta, timezone

    from psycopg.types.json import Jsonb

    moment = datetime(2026, 12, 3, 10, 0, 0, 123456, tzinfo=UTC)
    assert array_parameter([moment, moment.replace(microsecond=0)]) == (
        "{2026-12-03T10:00:00.123456+00:00,2026-12-03T10:00:00+00:00}"
    )
    elsewhere = moment.astimezone(timezone(timedelta(hours=5, minutes=30)))
    assert array_parameter([moment, elsewhere]) == [moment, elsewhere]
    values = [Jsonb({"q": 'a"b\\c'}, dumps=json.dumps), Jsonb([], dumps=json.dumps)]
    assert array_parameter(values) == r'{"{\"q\": \"a\\\"b\\\\c\"}","[]"}'
    assert array_parameter([Jsonb({})]) != "{}"  # psycopg's own dumps: left to psycopg
