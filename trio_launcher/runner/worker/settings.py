"""What every task process of one worker shares, built once in the worker."""

from __future__ import annotations

from trio_launcher.runner.sandbox.runtime import RuntimeSandbox
from trio_launcher.runner.worker.confine.layers import Confinement

TYPE_CHECKING = False  # keep `typing` out of the worker
if TYPE_CHECKING:
    from typing import Any


class WorkerSettings:
    """What every task process of one worker shares (wire form from the runner).

    ``builtins`` is the table user code gets, built once in the worker: each
    task process runs one task, so it may use (and change) its inherited
    copy, and never touches every builtin object again to build its own.
    """

    __slots__ = ("builtins", "confinement", "memory_limit_mb", "sandbox")

    def __init__(
        self,
        sandbox: RuntimeSandbox,
        *,
        memory_limit_mb: int | None,
        confinement: Confinement | None = None,
    ) -> None:
        self.sandbox = sandbox
        self.memory_limit_mb = memory_limit_mb
        self.builtins = sandbox.build_builtins()
        self.confinement = confinement or Confinement({"layers": []})

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> WorkerSettings:
        """Build from the worker's command-line JSON."""
        limit = wire.get("memory_limit_mb")
        return cls(
            RuntimeSandbox.from_wire(wire["sandbox"]),
            memory_limit_mb=int(limit) if limit else None,
            confinement=Confinement(wire["sandbox"].get("confine", {"layers": []})),
        )
