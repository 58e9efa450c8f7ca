"""Supervised child processes: process groups, clean shutdown, output lines.

See ``docs/process.md`` for the guarantees.
"""

from .backoff import Backoff
from .child import ChildProcess, ExitStatus, OutputCallback, SpawnError, run_child
from .resources import ResourceSample, TreeSampler, sample_tree

__all__ = [
    "Backoff",
    "ChildProcess",
    "ExitStatus",
    "OutputCallback",
    "ResourceSample",
    "SpawnError",
    "TreeSampler",
    "run_child",
    "sample_tree",
]
