"""The demo's settings as the bench serves livebell: storm control off.

The bench counts every frame of back-to-back broadcasts (W1 sends 20 in about a
second to each user), which livebell's storm control would sum up into a few
``burst`` frames by design (docs/types.md). Off, each notification is a frame, as
for the other targets.
"""

from demo.settings import *  # noqa: F403

LIVEBELL = {**globals().get("LIVEBELL", {}), "STORM_THRESHOLD": None}
