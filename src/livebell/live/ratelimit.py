"""Rate limits, free of I/O (the clock is injected): token buckets, and the shared
limits of one user's sockets in a server process.

A socket's client frames are taken from its own bucket and from its user's
(:class:`UserLimits`), so that opening more sockets buys no more frames; the
user's catch-ups draw the notifications they send from a budget of their own.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass

__all__ = ["TokenBucket", "UserLimits", "UserLimitsTable"]


class TokenBucket:
    """Allow ``rate`` events per second on average, with bursts of up to ``burst``.

    Args:
        rate: tokens added per second; must be above 0.
        burst: the most tokens held (and the tokens held at first); at least 1.
        clock: seconds from a monotonic clock; tests pass a fake one.

    Raises:
        ValueError: ``rate`` not above 0, or ``burst`` below 1.
    """

    def __init__(
        self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError(f"rate must be > 0 and burst >= 1, got rate={rate}, burst={burst}")
        self.rate = float(rate)
        self.burst = float(burst)
        self._clock = clock
        self._tokens = float(burst)
        self._last = clock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now

    def allow(self) -> bool:
        """Take one token if there is one; say whether the event may proceed."""
        self._refill()
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False

    def available(self) -> int:
        """Whole tokens held now (0 while in debt)."""
        self._refill()
        return max(0, int(self._tokens))

    def spend(self, amount: int) -> None:
        """Take ``amount`` tokens, going into debt if there are fewer (repaid by the rate)."""
        self._refill()
        self._tokens -= amount

    @property
    def full(self) -> bool:
        """Whether the bucket holds its whole burst: it is then no different from a new one."""
        self._refill()
        return self._tokens >= self.burst


@dataclass(frozen=True, slots=True)
class UserLimits:
    """What one user's sockets in one process share."""

    #: Client frames of all the user's sockets.
    frames: TokenBucket
    #: Notifications the user's catch-ups may send.
    catch_up: TokenBucket

    @property
    def idle(self) -> bool:
        """Both buckets are full: forgetting these limits changes nothing."""
        return self.frames.full and self.catch_up.full


class UserLimitsTable:
    """Each user's :class:`UserLimits`, kept while they matter.

    A user's limits outlive their sockets (closing every socket and reconnecting
    must not refill the buckets); limits whose buckets are full again are
    forgotten, since a new entry would be the same.

    Args:
        make: builds a new user's limits.
        prune_every: look for idle entries after this many new ones.
    """

    def __init__(self, make: Callable[[], UserLimits], *, prune_every: int = 1000) -> None:
        self._make = make
        self._prune_every = prune_every
        self._added = 0
        self.entries: dict[Hashable, UserLimits] = {}

    def get(self, key: Hashable) -> UserLimits:
        """The limits of ``key`` (a user's group), created on first use."""
        limits = self.entries.get(key)
        if limits is None:
            self._added += 1
            if self._added >= self._prune_every:
                self._added = 0
                self.prune()
            limits = self.entries[key] = self._make()
        return limits

    def prune(self) -> None:
        """Forget the limits whose buckets are full."""
        for key in [key for key, limits in self.entries.items() if limits.idle]:
            del self.entries[key]
