"""The sandbox policy of the Python task runner, and how to read it from env strings.

The runner's configuration module reads the ``N8N_RUNNERS_*`` variables and
calls :meth:`SandboxPolicy.from_strings`; the executor then hands the policy to
the static analyser (in the runner) and, in wire form, to the pre-started
worker that applies the run-time half in every task process.
"""

from __future__ import annotations

import re
from typing import Any

import attrs

from trio_launcher.runner.sandbox.import_rules import ALLOW_ALL, ImportRules, ModuleAllowlist
from trio_launcher.runner.sandbox.kernel_plan import worker_plan
from trio_launcher.runner.worker.confine.layers import LAYERS

#: n8n's default for ``N8N_RUNNERS_BUILTINS_DENY``.
DEFAULT_BUILTINS_DENY = (
    "eval,exec,compile,open,input,breakpoint,getattr,object,type,vars,setattr,delattr,"
    "hasattr,dir,memoryview,__build_class__,globals,locals,license,help,credits,copyright"
)

_MODULE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ENV_NAME = re.compile(r"[^=\x00]+")

#: ``N8N_RUNNERS_SANDBOX``: refuse to start without every kernel layer.
STRICT = "strict"
#: Run with the kernel layers the host has; say which are missing.
BEST_EFFORT = "best-effort"
#: No kernel layers (trusted code only).
OFF = "off"
#: Unset: strict where the host has every layer, else best-effort with a warning.
AUTO = "auto"
SANDBOX_MODES = (STRICT, BEST_EFFORT, OFF)


class SandboxConfigError(ValueError):
    """A sandbox setting is malformed; the message names the variable."""


def _frozen_names(value: Any) -> frozenset[str]:
    return frozenset(value)


@attrs.frozen
class SandboxPolicy:
    """What user code may import, which builtins it loses, which env it sees.

    ``*`` in an allowlist is modelled by the ``*_allow_all`` flags; the name
    sets are then empty.
    """

    stdlib_allow: frozenset[str] = attrs.field(default=frozenset(), converter=_frozen_names)
    stdlib_allow_all: bool = False
    external_allow: frozenset[str] = attrs.field(default=frozenset(), converter=_frozen_names)
    external_allow_all: bool = False
    builtins_deny: frozenset[str] = attrs.field(
        default=frozenset(DEFAULT_BUILTINS_DENY.split(",")), converter=_frozen_names
    )
    block_env_access: bool = True
    env_allow: frozenset[str] = attrs.field(default=frozenset(), converter=_frozen_names)
    allow_transitive_imports: bool = False
    #: How the kernel layers are required (:data:`SANDBOX_MODES`, or :data:`AUTO`).
    mode: str = AUTO
    #: Kernel layers switched off one by one (names from ``worker.confine.layers.LAYERS``).
    disabled_layers: frozenset[str] = attrs.field(default=frozenset(), converter=_frozen_names)

    @classmethod
    def from_strings(
        cls,
        *,
        stdlib_allow: str = "",
        external_allow: str = "",
        builtins_deny: str = DEFAULT_BUILTINS_DENY,
        block_env_access: str | bool = True,
        env_allow: str = "",
        allow_transitive_imports: str | bool = False,
        mode: str = "",
        disabled_layers: str = "",
    ) -> SandboxPolicy:
        """Build a policy from the raw environment strings.

        Lists are comma-separated (blanks around names are ignored).  ``*``
        must stand alone.  Booleans are true only for ``"true"`` (any case),
        as in n8n.  Raises :class:`SandboxConfigError` naming the variable.
        """
        stdlib = _parse_allowlist("N8N_RUNNERS_STDLIB_ALLOW", stdlib_allow)
        external = _parse_allowlist("N8N_RUNNERS_EXTERNAL_ALLOW", external_allow)
        return cls(
            stdlib_allow=stdlib.names,
            stdlib_allow_all=stdlib.allow_all,
            external_allow=external.names,
            external_allow_all=external.allow_all,
            builtins_deny=_parse_names("N8N_RUNNERS_BUILTINS_DENY", builtins_deny, _IDENTIFIER),
            block_env_access=_parse_bool(block_env_access),
            env_allow=_parse_names("N8N_RUNNER_ENV_ALLOW", env_allow, _ENV_NAME),
            allow_transitive_imports=_parse_bool(allow_transitive_imports),
            mode=_parse_mode(mode),
            disabled_layers=_parse_layers(disabled_layers),
        )

    @property
    def kernel_layers(self) -> frozenset[str]:
        """The kernel layers the worker applies."""
        if self.mode == OFF:
            return frozenset()
        return frozenset(LAYERS) - self.disabled_layers

    def import_rules(self) -> ImportRules:
        """The import allowlists as the shared :class:`ImportRules`."""
        return ImportRules(
            ModuleAllowlist(self.stdlib_allow, allow_all=self.stdlib_allow_all),
            ModuleAllowlist(self.external_allow, allow_all=self.external_allow_all),
        )

    def to_wire(self) -> dict[str, Any]:
        """JSON-friendly form for the worker (see :mod:`.runtime`)."""
        return {
            "imports": self.import_rules().to_wire(),
            "builtins_deny": sorted(self.builtins_deny),
            "block_env_access": self.block_env_access,
            "env_allow": sorted(self.env_allow),
            "allow_transitive_imports": self.allow_transitive_imports,
            "confine": worker_plan(self.import_rules(), self.kernel_layers),
        }


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def _parse_allowlist(variable: str, value: str) -> ModuleAllowlist:
    names = _split(value)
    if ALLOW_ALL in names:
        if names != [ALLOW_ALL]:
            raise SandboxConfigError(f"{variable}: '*' must stand alone, got {value!r}")
        return ModuleAllowlist(allow_all=True)
    return ModuleAllowlist(_parse_names(variable, value, _MODULE_NAME))


def _parse_names(variable: str, value: str, pattern: re.Pattern[str]) -> frozenset[str]:
    names = _split(value)
    for name in names:
        if not pattern.fullmatch(name):
            raise SandboxConfigError(f"{variable}: invalid name {name!r} in {value!r}")
    return frozenset(names)


def _parse_mode(value: str) -> str:
    mode = value.strip().lower()
    if not mode:
        return AUTO
    if mode not in SANDBOX_MODES:
        raise SandboxConfigError(
            f"N8N_RUNNERS_SANDBOX: expected one of {', '.join(SANDBOX_MODES)}, got {value!r}"
        )
    return mode


def _parse_layers(value: str) -> frozenset[str]:
    names = frozenset(_split(value.lower()))
    unknown = sorted(names - set(LAYERS))
    if unknown:
        raise SandboxConfigError(
            f"N8N_RUNNERS_SANDBOX_DISABLE: unknown layer {unknown[0]!r} "
            f"(layers: {', '.join(LAYERS)})"
        )
    return names


def _parse_bool(value: str | bool) -> bool:
    if isinstance(value, bool):
        return value
    return value.strip().lower() == "true"
