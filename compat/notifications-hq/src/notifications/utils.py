"""hq's slugs: the id shifted by a constant, as they appear in hq's URLs."""

from __future__ import annotations

__all__ = ["id2slug", "slug2id"]

_OFFSET = 110909


def slug2id(slug: str | int) -> int:
    return int(slug) - _OFFSET


def id2slug(notification_id: int) -> int:
    return notification_id + _OFFSET
