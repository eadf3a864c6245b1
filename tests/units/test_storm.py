"""Storm control: a burst past the threshold is held and summed up."""

from __future__ import annotations

import pytest

from livebell.live.storm import BurstGate
from tests.units.fakes import FakeClock


def test_a_burst_past_the_threshold_is_held_and_summed_up() -> None:
    clock = FakeClock()
    gate = BurstGate(3, window=10, quiet=1, longest=5, clock=clock)
    assert [gate.admit() for _ in range(3)] == [True, True, True]
    assert gate.due_in() is None
    assert not gate.admit()  # the fourth within 10 s
    assert gate.due_in() == 1.0
    for _ in range(50):
        clock.now += 0.05
        assert not gate.admit()
    assert gate.due_in() == pytest.approx(1.0)  # quiet for 1 s after the last…
    clock.now += 3
    assert gate.due_in() == 0.0  # …but at most 5 s after the first held
    assert gate.release() == 51
    assert not gate.admit()  # a steady flood stays summed up
    assert gate.release() == 1
    clock.now += 11  # the window passed: one at a time again
    assert gate.admit()


def test_bad_storm_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="threshold must be >= 1"):
        BurstGate(0, window=10)
