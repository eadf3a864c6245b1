"""Process-local fan-out: one channel-layer subscription per process, not per socket.

Channels' usual design gives every socket its own layer channel and group
membership, so a notification for N sockets costs N layer hops (N Redis
deliveries, N msgpack decodes, N wake-ups of Channels' dispatch loop), and a
broadcast to N users costs the sender N publishes. Here each process (each
event loop) has one :class:`Hub` with one layer channel:

- the hub joins a user's group when the first local socket of that user opens,
  and leaves it when the last one closes; a push to the group reaches the hub
  once and is copied to that user's local sockets in memory;
- every hub is in the fan-out group, where ``notify()`` sends one message per
  batch of recipients (a broadcast to 1,000 users is one publish); each hub
  hands every item to the local sockets of its recipient and ignores the rest.

The hub also keeps what a user's sockets in the process share: their number
(:meth:`Hub.join` returns it, for the per-user socket cap) and their limits
(:attr:`Hub.limits`, :class:`livebell.live.ratelimit.UserLimits`). Both are per
process: a cap across processes would need shared state.

Joining and leaving groups goes in rounds: the joins and leaves of every socket
that opens or closes while a round is under way make the next round, one call
for all their groups (on the Redis pub/sub layer, one ``SUBSCRIBE``:
:mod:`livebell.layer._many_groups`). A connect storm of new users costs a few
Redis commands, not one per user.

On the Redis pub/sub layer the hub also sends itself a heartbeat now and then,
through Redis; when one does not come back, it has the layer connect and
subscribe again (:func:`livebell.layer._many_groups.reconnect`). A subscriber only
reads, so it cannot tell a quiet Redis from one that stopped answering without
closing the connection (frozen, cut off, or a primary that Redis Sentinel has
replaced meanwhile): without this, such a process would keep its sockets open
and deliver nothing to them.

The hub decodes each layer message once (:func:`livebell.layer.messages.decode`) and
hands the typed messages to a socket through :meth:`Subscriber.deliver`, which
must not block: the consumer queues them and handles one message at a time, so
a catch-up from the database and the live pushes that arrive meanwhile are
still serialised.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from typing import Any, Protocol

from channels.layers import BaseChannelLayer

from livebell import metrics
from livebell.conf import livebell_settings
from livebell.layer import _many_groups, messages
from livebell.layer.groups import fanout_group
from livebell.layer.messages import Message
from livebell.live.ratelimit import TokenBucket, UserLimits, UserLimitsTable

__all__ = ["Hub", "Subscriber", "hub_for", "new_user_limits"]

logger = logging.getLogger("livebell.fanout")

# Pause before receiving again after the layer failed (Redis restarting, say).
RETRY_SECONDS = 0.5
# Leaving a group must not hold up a socket's end (nor a server's shutdown) when
# the layer hangs; the layer forgets memberships on its own.
LEAVE_TIMEOUT_SECONDS = 2.0
# How often the hub checks that its pub/sub subscriptions still deliver, and how
# long a heartbeat may take to come back (through a busy event loop too) before
# the hub connects again.
HEARTBEAT_SECONDS = 5.0
HEARTBEAT_TIMEOUT_SECONDS = 5.0
# The type of the heartbeat, which only the hub that sent it receives.
HEARTBEAT_TYPE = "livebell.hub.heartbeat"


def new_user_limits() -> UserLimits:
    """A user's limits as the settings say (read when the user first connects)."""
    return UserLimits(
        frames=TokenBucket(
            livebell_settings.USER_RATE_LIMIT_PER_SECOND, livebell_settings.USER_RATE_LIMIT_BURST
        ),
        catch_up=TokenBucket(
            livebell_settings.CATCH_UP_BUDGET_PER_SECOND, livebell_settings.CATCH_UP_BUDGET
        ),
    )


class Subscriber(Protocol):
    """What the hub needs of a socket."""

    def deliver(self, message: Message) -> None:
        """Queue one message for this socket; must not block or raise."""


class Hub:
    """This event loop's one layer channel, and the local sockets behind each user group."""

    def __init__(self, layer: BaseChannelLayer) -> None:
        self.layer = layer
        self.channel: str | None = None
        self.members: dict[str, set[Subscriber]] = {}
        #: What each user's sockets in this process share, by the user's group.
        self.limits = UserLimitsTable(new_user_limits)
        self._reader: asyncio.Task[None] | None = None
        self._refresher: asyncio.Task[None] | None = None
        self._watchdog: asyncio.Task[None] | None = None
        self._heartbeat_back = asyncio.Event()
        # The groups the layer routes to this process, and those to join or leave
        # in the next round. One task at a time (the settler) changes the layer's
        # memberships, a round of every join and leave waiting at that moment:
        # when thousands of sockets connect at once, their groups are one
        # SUBSCRIBE per round rather than one each (livebell.layer._many_groups).
        self._subscribed: set[str] = set()
        self._to_join: set[str] = set()
        self._to_leave: set[str] = set()
        self._next_round: asyncio.Future[Exception | None] | None = None
        self._settler: asyncio.Task[None] | None = None
        # Serialises the settler's rounds with the renewal of every membership.
        self._lock = asyncio.Lock()

    async def join(self, group: str, subscriber: Subscriber) -> int:
        """Start delivering ``group``'s messages to ``subscriber``.

        Returns, once the layer routes the group's messages to this process (a
        message sent after that reaches the subscriber), how many local
        subscribers the group has now, this one included.
        """
        members = self.members.setdefault(group, set())
        members.add(subscriber)
        if group not in self._subscribed:
            self._to_join.add(group)
            # Shielded: the round is shared; a socket that goes away while
            # waiting leaves the group through leave(), like any other.
            failure = await asyncio.shield(self._round())
            if failure is not None:
                raise failure
        return len(members)

    async def leave(self, group: str, subscriber: Subscriber) -> None:
        """Stop delivering to ``subscriber``; leave the group with the user's last socket."""
        members = self.members.get(group)
        if members is None or subscriber not in members:
            return
        members.discard(subscriber)
        if members:
            return
        del self.members[group]
        self._to_leave.add(group)
        # No timeout here: when thousands of sockets close at once, waiting for
        # the round is waiting for the event loop. The round bounds its own calls
        # to the layer, and a failure to leave is logged there, once per round.
        await asyncio.shield(self._round())

    def _round(self) -> asyncio.Future[Exception | None]:
        """The next round of joins and leaves, started if need be; its result is
        what made its joins fail (None if nothing did)."""
        if self._next_round is None:
            self._next_round = asyncio.get_running_loop().create_future()
        if self._settler is None:
            self._settler = asyncio.create_task(self._settle(), name="livebell-hub-groups")
        return self._next_round

    async def _settle(self) -> None:
        try:
            while self._next_round is not None:
                done, self._next_round = self._next_round, None
                joins, self._to_join = self._to_join, set()
                leaves, self._to_leave = self._to_leave, set()
                try:
                    async with self._lock:
                        await self._apply(joins, leaves)
                except Exception as exc:
                    done.set_result(exc)  # raised by the round's joins only
                else:
                    done.set_result(None)
        finally:
            self._settler = None

    async def _apply(self, joins: set[str], leaves: set[str]) -> None:
        """Leave the groups left by their last socket, then join the new ones."""
        # A group may have been joined again since it was left, or left since it
        # was joined: the members at this moment decide.
        leaves = {group for group in leaves if group not in self.members}
        joins = {group for group in joins if group in self.members} - self._subscribed
        if leaves and self.channel is not None:
            self._subscribed -= leaves
            try:
                async with asyncio.timeout(LEAVE_TIMEOUT_SECONDS):
                    await _many_groups.group_discard_many(self.layer, sorted(leaves), self.channel)
            except Exception as exc:
                # The layer forgets the memberships on its own (group expiry, or a
                # Redis restart); a close must not fail because of it.
                logger.warning(
                    "livebell: could not leave %d groups (%s: %s)",
                    len(leaves),
                    type(exc).__name__,
                    exc,
                )
        if joins:
            if self.channel is None:
                await self._start()
            assert self.channel is not None
            await _many_groups.group_add_many(self.layer, sorted(joins), self.channel)
            self._subscribed |= joins
        if not self.members and self.channel is not None:
            await self._stop()

    def dispatch(self, layer_message: dict[str, Any]) -> None:
        """Hand the messages in one layer message to the local sockets they are for.

        Raises:
            livebell.layer.messages.MalformedMessage: not a message livebell wrote.
        """
        members = self.members
        for message in messages.decode(layer_message):
            for subscriber in members.get(message.group, ()):
                subscriber.deliver(message)

    async def _start(self) -> None:
        self.channel = await self.layer.new_channel()
        await self.layer.group_add(fanout_group(), self.channel)
        self._reader = asyncio.create_task(self._read(self.channel), name="livebell-hub")
        # channels_redis.core.RedisChannelLayer forgets a group membership after its
        # group_expiry (a day by default) unless it is added again; the pub/sub layer
        # has no expiry. Without this, a process running for longer than that would
        # stop receiving broadcasts, and then its long-lived users' pushes.
        expiry = getattr(self.layer, "group_expiry", None)
        if isinstance(expiry, (int, float)) and expiry > 0:
            self._refresher = asyncio.create_task(
                self._refresh(self.channel, expiry / 2), name="livebell-hub-refresh"
            )
        if _many_groups.reconnects(self.layer):
            self._watchdog = asyncio.create_task(
                self._watch(self.channel), name="livebell-hub-heartbeat"
            )

    async def _watch(self, channel: str) -> None:
        """Send a heartbeat to ``channel`` now and then; reconnect when one is lost."""
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            self._heartbeat_back.clear()
            try:
                async with asyncio.timeout(HEARTBEAT_TIMEOUT_SECONDS):
                    await self.layer.send(channel, {"type": HEARTBEAT_TYPE})
            except Exception:
                # Nothing to publish to (Redis down, no primary yet): the
                # subscriber is not the problem, and the next heartbeat retries.
                continue
            try:
                async with asyncio.timeout(HEARTBEAT_TIMEOUT_SECONDS):
                    await self._heartbeat_back.wait()
            except TimeoutError:
                metrics.LAYER_RECEIVE_FAILURES.inc()
                logger.warning(
                    "livebell: a heartbeat through the channel layer did not come back; "
                    "connecting again",
                    extra={"event": "layer.heartbeat_lost"},
                )
                try:
                    await _many_groups.reconnect(self.layer)
                except Exception as exc:
                    logger.warning(
                        "livebell: could not reconnect the channel layer (%s: %s)",
                        type(exc).__name__,
                        exc,
                    )

    async def _refresh(self, channel: str, every: float) -> None:
        while True:
            await asyncio.sleep(every)
            try:
                await self._rejoin(channel)
            except Exception as exc:  # the layer down: the reader rejoins once it is back
                logger.warning(
                    "livebell: could not renew the group memberships (%s: %s)",
                    type(exc).__name__,
                    exc,
                )

    async def _stop(self) -> None:
        self._subscribed.clear()
        channel, reader = self.channel, self._reader
        self.channel, self._reader = None, None
        refresher, self._refresher = self._refresher, None
        watchdog, self._watchdog = self._watchdog, None
        for task in (refresher, watchdog):
            if task is not None:
                task.cancel()
        if reader is not None:
            reader.cancel()
        if channel is not None:
            try:
                async with asyncio.timeout(LEAVE_TIMEOUT_SECONDS):
                    await self.layer.group_discard(fanout_group(), channel)
            except Exception:
                logger.warning("livebell: could not leave the fan-out group", exc_info=True)

    async def _read(self, channel: str) -> None:
        rejoin = False
        while True:
            try:
                if rejoin:
                    await self._rejoin(channel)
                    rejoin = False
                message = await self.layer.receive(channel)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                metrics.LAYER_RECEIVE_FAILURES.inc()
                # One line per failure, not a traceback: during an outage they repeat.
                logger.warning(
                    "livebell: channel layer receive failed (%s: %s); retrying",
                    type(exc).__name__,
                    exc,
                    extra={"event": "layer.receive_failed"},
                )
                # A Redis that restarted without persistence has forgotten every
                # group membership: join them all again before receiving. Pushes
                # lost meanwhile are stored; sockets fetch them on the next push.
                rejoin = True
                await asyncio.sleep(RETRY_SECONDS)
                continue
            if message.get("type") == HEARTBEAT_TYPE:
                self._heartbeat_back.set()
                continue
            try:
                self.dispatch(message)
            except messages.MalformedMessage as exc:
                # Another program (or version) on the same Redis must not stop every
                # socket of the process; one line, no traceback.
                logger.warning("livebell: ignored a layer message: %s", exc)
            except Exception:
                logger.exception("livebell: could not dispatch a layer message")

    async def _rejoin(self, channel: str) -> None:
        async with self._lock:
            if self.channel != channel:
                return  # stopped meanwhile
            await _many_groups.group_add_many(
                self.layer, [fanout_group(), *sorted(self._subscribed)], channel
            )


# One hub per event loop and channel layer: layers hold per-loop connections.
_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[int, Hub]] = (
    weakref.WeakKeyDictionary()
)


def hub_for(layer: BaseChannelLayer) -> Hub:
    """The running event loop's hub on ``layer``, created on first use."""
    per_loop = _hubs.setdefault(asyncio.get_running_loop(), {})
    hub = per_loop.get(id(layer))
    if hub is None or hub.layer is not layer:
        hub = per_loop[id(layer)] = Hub(layer)
    return hub
