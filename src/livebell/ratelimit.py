"""Rate limits of the socket's client frames, free of I/O (the clock is injected)."""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["TokenBucket"]


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

    def allow(self) -> bool:
        """Take one token if there is one; say whether the event may proceed."""
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False
