"""Catch-ups from async code, batched with concurrent ones (see :mod:`livebell.batching`).

Every connect with ``?last_id=`` and every ``resume`` frame needs a catch-up from
the database. In a reconnect storm thousands wait at once; each batch of them
costs two queries (:func:`livebell.resume.catch_up_many`), and a lone catch-up
one (:func:`livebell.resume.catch_up`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from livebell.batching import Coalescer
from livebell.resume import Catchup, catch_up, catch_up_many

__all__ = ["MAX_BATCH", "acatch_up"]

# Sockets per batch. Each costs three query parameters; SQLite allows 999.
MAX_BATCH = 200

_Request = tuple[Any, int | None, int]


def _run(batch: Sequence[_Request]) -> list[Catchup]:
    if len(batch) == 1:
        user_id, after, limit = batch[0]
        return [catch_up(user_id, after, limit=limit)]
    results: dict[int, Catchup] = {}
    for limit in {request[2] for request in batch}:
        same = [(i, request) for i, request in enumerate(batch) if request[2] == limit]
        found = catch_up_many([(user_id, after) for _, (user_id, after, _) in same], limit=limit)
        results.update((i, result) for (i, _), result in zip(same, found, strict=True))
    return [results[i] for i in range(len(batch))]


_catch_ups: Coalescer[_Request, Catchup] = Coalescer(_run, max_batch=MAX_BATCH)


async def acatch_up(user_id: Any, after: int | None, *, limit: int) -> Catchup:
    """:func:`livebell.resume.catch_up` from async code, batched with concurrent callers."""
    return await _catch_ups((user_id, after, limit))
