"""Storm control, free of I/O: a burst of notifications to one socket becomes one frame.

When one user receives a burst — more than ``threshold`` notifications within
``window`` seconds (``LIVEBELL["STORM_THRESHOLD"]``, ``["STORM_WINDOW_SECONDS"]``;
10 in 10 s by default) — the first ``threshold`` go to the socket as usual and the
rest are held and summed up: once the burst has been quiet for ``quiet`` seconds,
or ``longest`` seconds after the first one held, the socket sends one ``burst``
frame saying how many arrived, the newest id and the unread count. Nothing is lost:
every row is stored, the client lists them over REST, and a reconnect catches up
from the last id the client actually received. An outage that fans out thousands
of alerts costs each socket a handful of frames, and the widget one toast.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

__all__ = ["BurstGate"]


class BurstGate:
    """Decides, per notification, whether it goes alone or joins a burst.

    Args:
        threshold: notifications allowed within ``window`` before a burst starts.
        window: the sliding window, in seconds.
        quiet: a burst ends after this long without a notification.
        longest: a burst is summed up at least this often.
        clock: seconds from a monotonic clock; tests pass a fake one.

    Raises:
        ValueError: a threshold below 1, or a window, quiet or longest not above 0.
    """

    def __init__(
        self,
        threshold: int,
        window: float,
        *,
        quiet: float = 1.0,
        longest: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if threshold < 1 or window <= 0 or quiet <= 0 or longest <= 0:
            raise ValueError(
                f"threshold must be >= 1 and the times > 0, got threshold={threshold}, "
                f"window={window}, quiet={quiet}, longest={longest}"
            )
        self.threshold = threshold
        self.window = float(window)
        self.quiet = float(quiet)
        self.longest = float(longest)
        self._clock = clock
        # The arrival times of the last ``threshold`` notifications sent alone.
        self._recent: deque[float] = deque(maxlen=threshold)
        #: Notifications held since the burst's last summary.
        self.held = 0
        self._first_held = 0.0
        self._last_held = 0.0

    def admit(self) -> bool:
        """A notification arrived: True if it goes alone, False if it is held."""
        now = self._clock()
        if self.held:
            self.held += 1
            self._last_held = now
            return False
        if len(self._recent) == self.threshold and now - self._recent[0] < self.window:
            self.held, self._first_held, self._last_held = 1, now, now
            return False
        self._recent.append(now)
        return True

    def due_in(self) -> float | None:
        """Seconds until the held notifications must be summed up (None: nothing held)."""
        if not self.held:
            return None
        now = self._clock()
        return max(0.0, min(self._last_held + self.quiet, self._first_held + self.longest) - now)

    def release(self) -> int:
        """Sum the burst up now: how many were held (then none are)."""
        held, self.held = self.held, 0
        # The burst goes on counting against the window: a steady flood stays summed up.
        now = self._clock()
        self._recent.clear()
        self._recent.extend([now] * self.threshold if held else [])
        return held
