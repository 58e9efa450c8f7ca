"""The sandbox policy of the Python task runner, and how to read it from env strings.

:meth:`RunnerConfig.from_env <trio_launcher.runner.config.RunnerConfig.from_env>`
reads the ``N8N_RUNNERS_*`` variables and calls :meth:`SandboxPolicy.from_strings`,
which records a bad one beside every other bad setting; the executor then hands
the policy to the static analyser (in the runner) and, in wire form, to the
pre-started worker that applies the run-time half in every task process.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar

import attrs

from trio_launcher.config_error import ConfigError, ConfigIssue
from trio_launcher.envconfig import parse_bool
from trio_launcher.runner.sandbox.import_rules import ALLOW_ALL, ImportRules, ModuleAllowlist
from trio_launcher.runner.sandbox.kernel_plan import worker_plan
from trio_launcher.runner.worker.confine.layers import LAYERS

#: n8n's default for ``N8N_RUNNERS_BUILTINS_DENY``.
DEFAULT_BUILTINS_DENY = (
    "eval,exec,compile,open,input,breakpoint,getattr,object,type,vars,setattr,delattr,"
    "hasattr,dir,memoryview,__build_class__,globals,locals,license,help,credits,copyright"
)

_DEFAULT_DENY = frozenset(DEFAULT_BUILTINS_DENY.split(","))
_NO_NAMES: frozenset[str] = frozenset()
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


T = TypeVar("T")


class SandboxConfigError(ConfigError):
    """Sandbox settings are malformed; each issue names its variable."""


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
    builtins_deny: frozenset[str] = attrs.field(default=_DEFAULT_DENY, converter=_frozen_names)
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
        issues: list[ConfigIssue] | None = None,
    ) -> SandboxPolicy:
        """Build a policy from the raw environment strings.

        Lists are comma-separated (blanks around names are ignored).  ``*``
        must stand alone.  Booleans are parsed as every boolean setting is
        (:func:`~trio_launcher.envconfig.parse_bool`); blank means the default.
        Every malformed setting is an issue naming its variable: appended to
        ``issues`` if given (the setting then keeps its default), else raised
        together as :class:`SandboxConfigError`.
        """
        found: list[ConfigIssue] = [] if issues is None else issues
        read = _Settings(found)
        stdlib = read("N8N_RUNNERS_STDLIB_ALLOW", _parse_modules, stdlib_allow, ModuleAllowlist())
        external = read(
            "N8N_RUNNERS_EXTERNAL_ALLOW", _parse_modules, external_allow, ModuleAllowlist()
        )
        policy = cls(
            stdlib_allow=stdlib.names,
            stdlib_allow_all=stdlib.allow_all,
            external_allow=external.names,
            external_allow_all=external.allow_all,
            builtins_deny=read(
                "N8N_RUNNERS_BUILTINS_DENY", _parse_identifiers, builtins_deny, _DEFAULT_DENY
            ),
            block_env_access=read("N8N_BLOCK_RUNNER_ENV_ACCESS", _boolean, block_env_access, True),
            env_allow=read("N8N_RUNNER_ENV_ALLOW", _parse_env_names, env_allow, _NO_NAMES),
            allow_transitive_imports=read(
                "N8N_RUNNERS_ALLOW_TRANSITIVE_IMPORTS", _boolean, allow_transitive_imports, False
            ),
            mode=read("N8N_RUNNERS_SANDBOX", _parse_mode, mode, AUTO),
            disabled_layers=read(
                "N8N_RUNNERS_SANDBOX_DISABLE", _parse_layers, disabled_layers, _NO_NAMES
            ),
        )
        if issues is None and found:
            raise SandboxConfigError(found)
        return policy

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


class _Settings:
    """Parses one setting after another, recording each bad one as an issue."""

    def __init__(self, issues: list[ConfigIssue]) -> None:
        self._issues = issues

    def __call__(
        self, variable: str, parse: Callable[[Any], T | None], value: Any, default: T
    ) -> T:
        """``parse(value)``, or ``default``: if that is None (unset), or malformed (an issue)."""
        try:
            parsed = parse(value)
        except ValueError as exc:
            self._issues.append(ConfigIssue(key=variable, message=str(exc)))
            return default
        return default if parsed is None else parsed


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def _parse_modules(value: str) -> ModuleAllowlist:
    names = _split(value)
    if ALLOW_ALL in names:
        if names != [ALLOW_ALL]:
            raise ValueError(f"'*' must stand alone, got {value!r}")
        return ModuleAllowlist(allow_all=True)
    return ModuleAllowlist(_parse_names(value, _MODULE_NAME))


def _parse_identifiers(value: str) -> frozenset[str]:
    return _parse_names(value, _IDENTIFIER)


def _parse_env_names(value: str) -> frozenset[str]:
    return _parse_names(value, _ENV_NAME)


def _parse_names(value: str, pattern: re.Pattern[str]) -> frozenset[str]:
    names = _split(value)
    for name in names:
        if not pattern.fullmatch(name):
            raise ValueError(f"invalid name {name!r} in {value!r}")
    return frozenset(names)


def _parse_mode(value: str) -> str | None:
    mode = value.strip().lower()
    if not mode:
        return None
    if mode not in SANDBOX_MODES:
        raise ValueError(f"expected one of {', '.join(SANDBOX_MODES)}, got {value!r}")
    return mode


def _parse_layers(value: str) -> frozenset[str]:
    names = frozenset(_split(value.lower()))
    unknown = sorted(names - set(LAYERS))
    if unknown:
        raise ValueError(f"unknown layer {unknown[0]!r} (layers: {', '.join(LAYERS)})")
    return names


def _boolean(value: str | bool) -> bool | None:
    """A boolean setting given as a bool or as text; None for blank text."""
    if isinstance(value, bool):
        return value
    return parse_bool(value) if value.strip() else None
