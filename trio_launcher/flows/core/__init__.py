"""The flow runner's core, sans-IO: :class:`FlowCore` and what it returns.

* :mod:`.core`: :class:`FlowCore` and its calls, on four layers, each a class on
  the one before: :mod:`.state` (the records and the plumbing), :mod:`.delivery`
  (queues, invocations, bounds and backpressure, local-edge wiring),
  :mod:`.lifecycle` (modules and flows changing state, crashes, steps, checks ending)
  and :mod:`.handlers` (what each frame from a runtime does, deadlines);
* :mod:`.states`: a module's and a runtime's states and their tables
  :data:`MODULE_TRANSITIONS`, :data:`RUNTIME_TRANSITIONS`;
* :mod:`.records`: edges (with their bounds), modules (with their queues), runtimes;
* :mod:`.flow_record`: a flow's records; :mod:`.wiring`: which edges a runtime
  carries itself; :mod:`.stepping`: a single step in progress;
* :mod:`.outputs`: what a call returns.
"""

from .core import FlowCore, FlowCoreError, PortFull
from .outputs import *  # noqa: F403
from .outputs import __all__ as _outputs
from .states import MODULE_TRANSITIONS, RUNTIME_TRANSITIONS, ModuleState, RuntimeState

__all__ = [
    "MODULE_TRANSITIONS",
    "RUNTIME_TRANSITIONS",
    "FlowCore",
    "FlowCoreError",
    "ModuleState",
    "PortFull",
    "RuntimeState",
    *_outputs,
]
