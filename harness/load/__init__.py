"""The storm generator: open-model schedules, keys, payloads, and the pacer that sends on time.

storm = build_storm(scenario.storm, seed=7, run_prefix="run-7")
pacer = Pacer(storm.t_offset, start=clock.now() + 0.5)
"""

from harness.load.pacer import Batch, Pacer, SlipStats
from harness.load.schedule import expected_count, intended_offsets
from harness.load.storm import Storm, build_storm

__all__ = [
    "Batch",
    "Pacer",
    "SlipStats",
    "Storm",
    "build_storm",
    "expected_count",
    "intended_offsets",
]
