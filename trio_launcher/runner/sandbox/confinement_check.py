"""The runner's side of the kernel layers: log the worker's report once, enforce the mode.

* ``strict``: every layer the mode asks for must be on, or the runner stops
  with :class:`SandboxUnavailable` (exit code 2, like a bad setting);
* unset: the layers the first worker brought up become required for every
  later worker (strict where the host supports it), the others are
  reported once as missing;
* ``best-effort``: run with what the host gives; report what is missing;
* ``off``: no kernel layers; say so once, loudly.
"""

from __future__ import annotations

import logging

from trio_launcher.config_error import ConfigError, ConfigIssue
from trio_launcher.runner.sandbox.policy import AUTO, OFF, STRICT, SandboxPolicy
from trio_launcher.runner.worker.confine.layers import ON

log = logging.getLogger("trio_launcher.runner.sandbox")


class SandboxUnavailable(ConfigError):
    """A kernel layer that the sandbox mode requires could not be applied."""

    def __init__(self, missing: dict[str, str]) -> None:
        super().__init__(
            ConfigIssue(
                key="N8N_RUNNERS_SANDBOX",
                message=f"layer {name!r} is required but {status}; set "
                "N8N_RUNNERS_SANDBOX=best-effort to run without it",
            )
            for name, status in sorted(missing.items())
        )
        self.missing = missing


def is_on(status: str) -> bool:
    """Whether a reported status means the layer is in force."""
    return status == ON or status.startswith(ON + " ")


class ConfinementCheck:
    """Checks each new worker's report against the policy's mode."""

    def __init__(self, policy: SandboxPolicy) -> None:
        self._mode = policy.mode
        self._wanted = policy.kernel_layers
        self._required: frozenset[str] | None = self._wanted if self._mode == STRICT else None
        self._reported = False

    def check(self, report: dict[str, str]) -> None:
        """Log the first report; raise :class:`SandboxUnavailable` if a required layer is off."""
        if self._required is None and self._mode == AUTO:
            self._required = frozenset(name for name in self._wanted if is_on(report.get(name, "")))
        missing = {
            name: report.get(name, "not reported")
            for name in self._required or ()
            if not is_on(report.get(name, ""))
        }
        if missing:
            raise SandboxUnavailable(missing)
        if not self._reported:
            self._reported = True
            self._log(report)

    def _log(self, report: dict[str, str]) -> None:
        if self._mode == OFF:
            log.warning(
                "sandbox: kernel layers off (N8N_RUNNERS_SANDBOX=off): run only trusted code"
            )
            return
        log.info("sandbox: %s", "; ".join(f"{n} {s}" for n, s in sorted(report.items())))
        for name, status in sorted(report.items()):
            if name in self._wanted and not is_on(status):
                log.warning(
                    "sandbox layer %r %s; running without it (N8N_RUNNERS_SANDBOX=strict "
                    "refuses to)",
                    name,
                    status,
                )
