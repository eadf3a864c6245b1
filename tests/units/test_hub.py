"""The hub's dispatch: each message to its group's sockets in this process only."""

from __future__ import annotations

from typing import Any

import pytest

from livebell.layer import messages
from livebell.layer.fanout import Hub
from livebell.layer.groups import site_key
from livebell.layer.messages import Push, SessionEnded


class Inbox:
    def __init__(self) -> None:
        self.got: list[Any] = []

    def deliver(self, message: Any) -> None:
        self.got.append(message)


def test_the_hub_hands_each_message_to_its_groups_local_sockets_only() -> None:
    hub = Hub(layer=None)  # type: ignore[arg-type]  # dispatch needs no layer
    bob1, bob2, carol = Inbox(), Inbox(), Inbox()
    hub.members = {"g.bob": {bob1, bob2}, "g.carol": {carol}}
    to_bob = Push("g.bob", 2, 0, 1, 1, "b")
    to_dave = Push("g.dave", 3, 0, 1, 1, "d")  # held by another process
    to_carol = Push("g.carol", 4, 0, 1, 1, "c")
    [(_, batch)] = messages.encode([to_bob, to_dave, to_carol], batch_size=10)
    hub.dispatch(batch)
    [(_, ended)] = messages.encode([SessionEnded("g.carol", "abc")], batch_size=10)
    hub.dispatch(ended)
    here = site_key()
    assert bob1.got == bob2.got == [to_bob._replace(site=here)]
    assert carol.got == [to_carol._replace(site=here), SessionEnded("g.carol", "abc", here)]
    with pytest.raises(messages.MalformedMessage):
        hub.dispatch({"type": "livebell.push"})
