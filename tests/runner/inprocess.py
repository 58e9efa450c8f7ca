"""Run a code task in the current process: same semantics, no isolation.

For the tests only.  It applies the static check, the filtered
builtins and the checking importer, but none of the process-wide measures
(environment clearing, ``sys.modules`` sanitisation, resource limits,
timeouts), and user code runs with the caller's privileges.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TextIO

from trio_launcher.runner.code_node.run import run_code_task
from trio_launcher.runner.executor.prepare import PreparedTask, prepare_task
from trio_launcher.runner.sandbox.policy import SandboxPolicy
from trio_launcher.runner.sandbox.runtime import RuntimeSandbox


def run_in_process(
    settings: Mapping[str, Any],
    policy: SandboxPolicy | None = None,
    *,
    echo: TextIO | None = None,
) -> dict[str, Any]:
    """Prepare and run one task here; returns the task process's reply dict."""
    policy = policy or SandboxPolicy()
    prepared = prepare_task(settings, policy)
    if not isinstance(prepared, PreparedTask):
        return {"error": prepared, "print_args": []}
    sandbox = RuntimeSandbox.from_wire(policy.to_wire())
    return run_code_task(prepared.request, prepared.code, sandbox, echo=echo)
