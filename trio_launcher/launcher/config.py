"""Launcher configuration: n8n's launcher environment and ``n8n-task-runners.json``.

The environment is read as n8n's Go launcher reads it (reference 8.1), the
config file in the same JSON format. Every problem, in the environment or the
file, is reported at once, naming the variable or the file and key.
"""

from __future__ import annotations

import difflib
import json
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from ..broker_uri import broker_netloc, broker_uri_issues
from ..config_error import ConfigError, ConfigIssue
from ..envconfig import EnvReader
from ..logging_setup import LOG_LEVELS

__all__ = [
    "ALWAYS_PASSED",
    "DEFAULT_CONFIG_PATH",
    "PROTECTED_ENV",
    "LauncherConfig",
    "RunnerSpec",
    "load_launcher_config",
    "passable_environ",
]

DEFAULT_CONFIG_PATH = "/etc/n8n-task-runners.json"
RESERVED_PORTS = ("5678", "5679", "5680")
#: Variables the launcher always sets itself; env-overrides cannot change them.
PROTECTED_ENV = (
    "N8N_RUNNERS_TASK_BROKER_URI",
    "N8N_RUNNERS_GRANT_TOKEN",
    "N8N_RUNNERS_HEALTH_CHECK_SERVER_ENABLED",
    "N8N_RUNNERS_HEALTH_CHECK_SERVER_PORT",
)
#: Variables every runner gets from the launcher's environment, as in n8n.
ALWAYS_PASSED = ("LANG", "PATH", "TZ", "TERM")
ENV_PRECEDENCE = ("overrides", "environment")
#: The keys of one ``task-runners`` entry.
ENTRY_KEYS = (
    "runner-type",
    "command",
    "args",
    "workdir",
    "health-check-server-port",
    "allowed-env",
    "default-env",
    "env-overrides",
)


@attrs.frozen(kw_only=True)
class RunnerSpec:
    """One entry of ``task-runners``: how to start the runner of one task type.

    ``default_env`` (``default-env``) gives variables a value when the
    launcher's environment does not pass them through (``allowed-env``).
    """

    runner_type: str
    command: str
    args: tuple[str, ...] = ()
    workdir: str = "."
    health_check_port: int = 5681
    allowed_env: tuple[str, ...] = ()
    default_env: Mapping[str, str] = attrs.field(factory=dict)
    env_overrides: Mapping[str, str] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class LauncherConfig:
    """Everything :func:`~trio_launcher.launcher.run_launcher` needs.

    ``env_precedence`` decides who wins when a variable is both passed through
    (``allowed-env``) and set in ``env-overrides``: ``"overrides"`` (n8n's rule,
    the default) or ``"environment"`` (the launcher's own environment wins).
    ``environ`` is the environment runners take their variables from; by
    default the process environment's variables that some runner may get
    (:func:`passable_environ`). ``auto_shutdown_timeout`` and ``task_timeout``
    are seconds, passed to each runner (as n8n's launcher does).
    """

    auth_token: str = attrs.field(repr=False)
    runners: tuple[RunnerSpec, ...]
    task_broker_uri: str = "http://127.0.0.1:5679"
    auto_shutdown_timeout: int = 15
    task_timeout: float = 60.0
    health_check_port: int = 5680
    health_check_host: str = "127.0.0.1"
    runner_health_host: str = "127.0.0.1"
    graceful_shutdown_timeout: float = 30.0
    env_precedence: str = "overrides"
    environ: Mapping[str, str] = attrs.field(repr=False)
    #: Keys of the config file this launcher does not know, one line each with the
    #: nearest known key: ignored, as n8n's launcher ignores them, and logged.
    ignored_keys: tuple[str, ...] = ()

    @environ.default
    def _process_environ(self) -> Mapping[str, str]:
        return passable_environ(os.environ, self.runners)

    @property
    def broker_netloc(self) -> str:
        """``host:port`` of the broker."""
        return broker_netloc(self.task_broker_uri)


def passable_environ(environ: Mapping[str, str], runners: Sequence[RunnerSpec]) -> dict[str, str]:
    """The variables of ``environ`` that one of ``runners`` may get from the launcher.

    Those are :data:`ALWAYS_PASSED` and each runner's ``allowed-env``, never
    the :data:`PROTECTED_ENV` the launcher sets itself (nor its auth token).
    """
    names = {*ALWAYS_PASSED, *(name for spec in runners for name in spec.allowed_env)}
    return {
        name: value
        for name, value in environ.items()
        if name in names and name not in PROTECTED_ENV
    }


def load_launcher_config(
    runner_types: Sequence[str], environ: Mapping[str, str] | None = None
) -> LauncherConfig:
    """Build the configuration for ``runner_types`` from the environment and config file.

    With no config file at ``N8N_RUNNERS_CONFIG_PATH`` (and none named),
    ``python`` runs this project's own runner. Raises :class:`ConfigError`
    with every problem found. Keys the file has and this launcher does not
    know are not problems (a newer n8n may add some): they are listed in
    :attr:`LauncherConfig.ignored_keys`.
    """
    environ = dict(os.environ if environ is None else environ)
    env = EnvReader(environ)
    auth_token = env.string("N8N_RUNNERS_AUTH_TOKEN", "")
    if not auth_token:
        env.report("N8N_RUNNERS_AUTH_TOKEN", "required")
    uri = env.string("N8N_RUNNERS_TASK_BROKER_URI", "http://127.0.0.1:5679")
    env.issues.extend(broker_uri_issues(uri))
    precedence = env.string("TRIO_LAUNCHER_ENV_PRECEDENCE", "overrides").lower()
    if precedence not in ENV_PRECEDENCE:
        env.report(
            "TRIO_LAUNCHER_ENV_PRECEDENCE", f"expected overrides or environment, got {precedence!r}"
        )
    settings = _settings(env)
    env.choice("N8N_RUNNERS_LAUNCHER_LOG_LEVEL", "info", LOG_LEVELS)
    path = env.raw("N8N_RUNNERS_CONFIG_PATH")
    ignored: list[str] = []
    runners = _load_runners(runner_types, path, env.issues, ignored)
    env.check(source=path or "environment")
    return LauncherConfig(
        auth_token=auth_token,
        runners=runners,
        task_broker_uri=uri,
        env_precedence=precedence,
        environ=passable_environ(environ, runners),
        ignored_keys=tuple(ignored),
        **settings,
    )


def _settings(env: EnvReader) -> dict[str, Any]:
    """The launcher's timeouts and health endpoint, from the environment."""
    return dict(
        auto_shutdown_timeout=env.integer("N8N_RUNNERS_AUTO_SHUTDOWN_TIMEOUT", 15, minimum=0),
        task_timeout=env.number("N8N_RUNNERS_TASK_TIMEOUT", 60.0, minimum=0.001),
        health_check_port=env.integer(
            "N8N_RUNNERS_LAUNCHER_HEALTH_CHECK_PORT", 5680, minimum=0, maximum=65535
        ),
        health_check_host=env.string("N8N_RUNNERS_LAUNCHER_HEALTH_CHECK_HOST", "127.0.0.1"),
        runner_health_host=env.string("N8N_RUNNERS_HEALTH_CHECK_SERVER_HOST", "127.0.0.1"),
        graceful_shutdown_timeout=env.number(
            "N8N_RUNNERS_GRACEFUL_SHUTDOWN_TIMEOUT", 30.0, minimum=0.0
        ),
    )


def default_runner(runner_type: str) -> RunnerSpec | None:
    """The built-in spec when no config file exists: only ``python`` has one."""
    if runner_type != "python":
        return None
    return RunnerSpec(
        runner_type="python",
        command=sys.executable,
        args=("-m", "trio_launcher.runner"),
        workdir=os.getcwd(),
        allowed_env=(
            "PATH",
            "HOME",
            "VIRTUAL_ENV",
            "PYTHONPATH",
            "N8N_RUNNERS_MAX_CONCURRENCY",
            "N8N_RUNNERS_SANDBOX",
            "N8N_RUNNERS_SANDBOX_DISABLE",
        ),
    )


class _Report:
    """Records issues about the config file, or about one entry (``task-runners[N]``) of it."""

    def __init__(self, issues: list[ConfigIssue], file: str, entry: str = "") -> None:
        self.issues = issues
        self.file = file
        self._entry = entry

    def entry(self, index: int) -> _Report:
        """The report for entry ``index`` of ``task-runners``."""
        return _Report(self.issues, self.file, f"task-runners[{index}]")

    def issue(self, key: str, message: str) -> ConfigIssue:
        """An issue about ``key`` (of this entry, if any)."""
        where = ": ".join(part for part in (self._entry, key) if part)
        return ConfigIssue(file=self.file, key=where, message=message)

    def __call__(self, key: str, message: str) -> None:
        """Record a problem with ``key``."""
        self.issues.append(self.issue(key, message))


def _load_runners(
    runner_types: Sequence[str], path: str | None, issues: list[ConfigIssue], ignored: list[str]
) -> tuple[RunnerSpec, ...]:
    if not runner_types:
        issues.append(
            ConfigIssue(key="runner types", message="name at least one (e.g. python, javascript)")
        )
        return ()
    file_path = path or DEFAULT_CONFIG_PATH
    if path is None and not os.path.exists(file_path):
        return _defaults(runner_types, issues)
    report = _Report(issues, file_path)
    entries = _read_entries(report, ignored)
    if entries is None:
        return ()
    found = _parse_entries(report, entries, runner_types, ignored)
    named = [e["runner-type"] for e in entries if isinstance(e, dict) and "runner-type" in e]
    has = ", ".join(str(name) for name in named) or "none"
    for runner_type in runner_types:
        if runner_type not in named:
            report(
                "task-runners",
                f"no entry for runner type {runner_type!r} (the file has: {has})",
            )
    return tuple(found[t] for t in runner_types if t in found)


def _defaults(runner_types: Sequence[str], issues: list[ConfigIssue]) -> tuple[RunnerSpec, ...]:
    specs = []
    for runner_type in runner_types:
        spec = default_runner(runner_type)
        if spec is None:
            message = (
                f"runner type {runner_type!r} needs a config file (none at "
                f"{DEFAULT_CONFIG_PATH}); only 'python' has a built-in default"
            )
            issues.append(ConfigIssue(key="N8N_RUNNERS_CONFIG_PATH", message=message))
        else:
            specs.append(spec)
    return tuple(specs)


def _read_entries(report: _Report, ignored: list[str]) -> list[Any] | None:
    try:
        with open(report.file, encoding="utf-8") as f:
            document = json.load(f)
    except OSError as exc:
        report("", f"cannot read: {exc.strerror}")
        return None
    except ValueError as exc:
        report("", f"not valid JSON: {exc}")
        return None
    if isinstance(document, dict):
        ignored.extend(_unknown_keys(report, document, ("task-runners",)))
    entries = document.get("task-runners") if isinstance(document, dict) else None
    if not isinstance(entries, list) or not entries:
        report("task-runners", "expected a non-empty array")
        return None
    return entries


def _parse_entries(
    report: _Report, entries: list[Any], runner_types: Sequence[str], ignored: list[str]
) -> dict[str, RunnerSpec]:
    found: dict[str, RunnerSpec] = {}
    single = len(runner_types) == 1
    for index, entry in enumerate(entries):
        if isinstance(entry, dict):
            ignored.extend(_unknown_keys(report.entry(index), entry, ENTRY_KEYS))
        spec = _parse_entry(report.entry(index), entry, single)
        if spec is not None and spec.runner_type in runner_types:
            found[spec.runner_type] = spec
    ports = [spec.health_check_port for spec in found.values()]
    if len(set(ports)) != len(ports):
        report("health-check-server-port", "each runner needs its own port")
    return found


def _parse_entry(report: _Report, entry: Any, single: bool) -> RunnerSpec | None:
    if not isinstance(entry, dict):
        report("", "expected an object")
        return None
    before = len(report.issues)
    runner_type = _field(report, entry, "runner-type", str)
    command = _field(report, entry, "command", str)
    workdir = _field(report, entry, "workdir", str, default=".")
    args = _string_list(report, entry, "args")
    allowed_env = _string_list(report, entry, "allowed-env")
    default_env = _string_map(report, entry, "default-env")
    overrides = _string_map(report, entry, "env-overrides")
    port = _health_port(report, entry, single)
    if len(report.issues) > before:
        return None
    return RunnerSpec(
        runner_type=runner_type,
        command=command,
        args=tuple(args),
        workdir=workdir,
        health_check_port=port,
        allowed_env=tuple(allowed_env),
        default_env=default_env,
        env_overrides=overrides,
    )


def _unknown_keys(report: _Report, entry: Mapping[str, Any], known: Sequence[str]) -> list[str]:
    """One line per key not in ``known``, with the nearest known key when one is close."""
    found = []
    for key in entry:
        if key in known:
            continue
        nearest = difflib.get_close_matches(str(key), known, n=1, cutoff=0.6)
        hint = f" (did you mean {nearest[0]!r}?)" if nearest else f" (known: {', '.join(known)})"
        found.append(str(report.issue(key, f"unknown key, ignored{hint}")))
    return found


def _string_map(report: _Report, entry: dict[str, Any], key: str) -> dict[str, str]:
    value = entry.get(key, {})
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        report(key, "expected an object of string values")
        return {}
    return value


_MISSING = object()


def _field(
    report: _Report, entry: dict[str, Any], key: str, kind: type, default: Any = _MISSING
) -> Any:
    value = entry.get(key, default)
    if value is _MISSING:
        report(key, "required")
    elif not isinstance(value, kind):
        report(key, f"expected a {kind.__name__}, got {value!r}")
    else:
        return value
    return kind()


def _string_list(report: _Report, entry: dict[str, Any], key: str) -> list[str]:
    value = entry.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        report(key, "expected an array of strings")
        return []
    return value


def _health_port(report: _Report, entry: dict[str, Any], single: bool) -> int:
    value = entry.get("health-check-server-port")
    if value is None:
        if not single:
            report("health-check-server-port", "required with several runners")
        return 5681
    text = str(value)
    if text in RESERVED_PORTS or not text.isdigit() or not 0 < int(text) < 65536:
        report(
            "health-check-server-port",
            f"expected a free port other than 5678-5680, got {value!r}",
        )
        return 5681
    return int(text)


def check_runner_paths(spec: RunnerSpec) -> list[ConfigIssue]:
    """Problems with the runner's ``command`` and ``workdir`` on this machine."""
    import shutil

    found = []
    if not os.path.isdir(spec.workdir):
        message = f"no such directory {spec.workdir!r}"
        found.append(ConfigIssue(key=f"{spec.runner_type}: workdir", message=message))
    command = spec.command
    if os.sep in command and not os.path.isabs(command):
        command = os.path.join(spec.workdir, command)  # the runner starts in its workdir
    if shutil.which(command) is None:
        message = f"not an executable: {spec.command!r}"
        found.append(ConfigIssue(key=f"{spec.runner_type}: command", message=message))
    return found


def raise_for_paths(specs: Sequence[RunnerSpec]) -> None:
    """Raise :class:`ConfigError` if any runner's command or workdir is unusable."""
    found = [p for spec in specs for p in check_runner_paths(spec)]
    if found:
        raise ConfigError(found, source="task-runners")
