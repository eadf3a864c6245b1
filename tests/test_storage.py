"""The database backs the length checks that notify() makes in Python: a value too
long for its column is refused by the database (PostgreSQL, MariaDB/MySQL), never
stored cut short; the fast PostgreSQL INSERT casts its parameters to ``text``, not
to ``varchar(n)``, which would cut it without a word."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import DataError, connection, transaction

from livebell import sending
from livebell.models import VERB_MAX_LENGTH, Notification
from livebell.storage import inserts
from livebell.types import KEY_MAX_LENGTH

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("together", [False, True], ids=["one-value", "arrays"])
def test_a_verb_too_long_for_its_column_is_refused_not_cut(
    make_user: Any, monkeypatch: pytest.MonkeyPatch, together: bool
) -> None:
    """Past the Python check (switched off here), the column decides. One plan's
    verb goes as one parameter; two plans' different verbs as an array."""
    monkeypatch.setattr(sending, "VERB_MAX_LENGTH", 10 * VERB_MAX_LENGTH)
    bob, carol = make_user("bob"), make_user("carol")
    long = "v" * (VERB_MAX_LENGTH + 20)
    calls = [sending._Call(bob, long, None, None, None, None, None)]
    if together:
        calls.append(sending._Call(carol, "short", None, None, None, None, None))
    plans = [sending._draft(call) for call in calls]
    if connection.vendor == "sqlite":
        # SQLite enforces no length: the value is kept whole, not cut either.
        with transaction.atomic():
            inserts.store(plans, "default")
        assert Notification.objects.get(recipient=bob).verb == long
        return
    with pytest.raises(DataError), transaction.atomic():
        inserts.store(plans, "default")
    assert not Notification.objects.exists()


def test_one_length_guards_the_type_columns() -> None:
    from livebell.models import Preference

    for model in (Notification, Preference):
        assert model._meta.get_field("type").max_length == KEY_MAX_LENGTH
