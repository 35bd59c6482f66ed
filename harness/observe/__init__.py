"""Black-box observation: what a service did, seen from outside, as history rows.

A scenario's ``observe:`` section names sources (an output topic or queue, an HTTP downstream
the harness plays, a database table, the dead-letter queue). Each records what it sees keyed
by the input event's id, marked ``source: observe:<name>``; the checks then trust those rows
over anything the service reports about itself. See ``docs/system-under-test.md``.
"""

from harness.observe.context import ObserveContext
from harness.observe.kinds import SOURCE_KINDS, source_class
from harness.observe.observers import Observers, build_observers
from harness.observe.source import Source

__all__ = [
    "SOURCE_KINDS",
    "ObserveContext",
    "Observers",
    "Source",
    "build_observers",
    "source_class",
]
