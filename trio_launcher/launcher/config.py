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
from urllib.parse import urlsplit

import attrs

from ..envconfig import ConfigError, EnvReader
from ..logging_setup import LOG_LEVELS

__all__ = [
    "DEFAULT_CONFIG_PATH",
    "PROTECTED_ENV",
    "LauncherConfig",
    "RunnerSpec",
    "load_launcher_config",
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
    """

    auth_token: str = attrs.field(repr=False)
    runners: tuple[RunnerSpec, ...]
    task_broker_uri: str = "http://127.0.0.1:5679"
    auto_shutdown_timeout: str = "15"
    task_timeout: str = "60"
    health_check_port: int = 5680
    health_check_host: str = "127.0.0.1"
    runner_health_host: str = "127.0.0.1"
    graceful_shutdown_timeout: float = 30.0
    env_precedence: str = "overrides"
    environ: Mapping[str, str] = attrs.field(factory=dict, repr=False)
    #: Keys of the config file this launcher does not know, one line each with the
    #: nearest known key: ignored, as n8n's launcher ignores them, and logged.
    ignored_keys: tuple[str, ...] = ()

    @property
    def broker_netloc(self) -> str:
        """``host:port`` of the broker."""
        return urlsplit(self.task_broker_uri).netloc


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
        env.problems.append("N8N_RUNNERS_AUTH_TOKEN: required")
    uri = env.string("N8N_RUNNERS_TASK_BROKER_URI", "http://127.0.0.1:5679")
    env.problems.extend(_uri_problems(uri))
    auto_shutdown = env.integer("N8N_RUNNERS_AUTO_SHUTDOWN_TIMEOUT", 15, minimum=0)
    precedence = env.string("TRIO_LAUNCHER_ENV_PRECEDENCE", "overrides").lower()
    if precedence not in ENV_PRECEDENCE:
        env.problems.append(
            f"TRIO_LAUNCHER_ENV_PRECEDENCE: expected overrides or environment, got {precedence!r}"
        )
    config = dict(
        auth_token=auth_token,
        task_broker_uri=uri,
        auto_shutdown_timeout=str(auto_shutdown),
        task_timeout=_task_timeout(env),
        health_check_port=env.integer(
            "N8N_RUNNERS_LAUNCHER_HEALTH_CHECK_PORT", 5680, minimum=0, maximum=65535
        ),
        health_check_host=env.string("N8N_RUNNERS_LAUNCHER_HEALTH_CHECK_HOST", "127.0.0.1"),
        runner_health_host=env.string("N8N_RUNNERS_HEALTH_CHECK_SERVER_HOST", "127.0.0.1"),
        graceful_shutdown_timeout=env.number(
            "N8N_RUNNERS_GRACEFUL_SHUTDOWN_TIMEOUT", 30.0, minimum=0.0
        ),
        env_precedence=precedence,
        environ=environ,
    )
    env.choice("N8N_RUNNERS_LAUNCHER_LOG_LEVEL", "info", LOG_LEVELS)
    path = env.raw("N8N_RUNNERS_CONFIG_PATH")
    ignored: list[str] = []
    runners = _load_runners(runner_types, path, env.problems, ignored)
    env.check(source=path or "environment")
    return LauncherConfig(runners=runners, ignored_keys=tuple(ignored), **config)  # type: ignore[arg-type]


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


def _task_timeout(env: EnvReader) -> str:
    """``N8N_RUNNERS_TASK_TIMEOUT`` as the runners will get it, checked to be seconds > 0."""
    env.number("N8N_RUNNERS_TASK_TIMEOUT", 60.0, minimum=0.001)  # records a bad value
    return env.string("N8N_RUNNERS_TASK_TIMEOUT", "").strip() or "60"


def _uri_problems(uri: str) -> list[str]:
    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return [f"N8N_RUNNERS_TASK_BROKER_URI: expected http(s)://HOST:PORT, got {uri!r}"]
    if parts.query:
        return [f"N8N_RUNNERS_TASK_BROKER_URI: must not have a query string, got {uri!r}"]
    return []


def _load_runners(
    runner_types: Sequence[str], path: str | None, problems: list[str], ignored: list[str]
) -> tuple[RunnerSpec, ...]:
    if not runner_types:
        problems.append("runner types: name at least one (e.g. python, javascript)")
        return ()
    file_path = path or DEFAULT_CONFIG_PATH
    if path is None and not os.path.exists(file_path):
        return _defaults(runner_types, problems)
    entries = _read_entries(file_path, problems, ignored)
    if entries is None:
        return ()
    found = _parse_entries(file_path, entries, runner_types, problems, ignored)
    named = [e["runner-type"] for e in entries if isinstance(e, dict) and "runner-type" in e]
    has = ", ".join(str(name) for name in named) or "none"
    for runner_type in runner_types:
        if runner_type not in named:
            problems.append(
                f"{file_path}: task-runners: no entry for runner type {runner_type!r} "
                f"(the file has: {has})"
            )
    return tuple(found[t] for t in runner_types if t in found)


def _defaults(runner_types: Sequence[str], problems: list[str]) -> tuple[RunnerSpec, ...]:
    specs = []
    for runner_type in runner_types:
        spec = default_runner(runner_type)
        if spec is None:
            problems.append(
                f"N8N_RUNNERS_CONFIG_PATH: runner type {runner_type!r} needs a config file "
                f"(none at {DEFAULT_CONFIG_PATH}); only 'python' has a built-in default"
            )
        else:
            specs.append(spec)
    return tuple(specs)


def _read_entries(path: str, problems: list[str], ignored: list[str]) -> list[Any] | None:
    try:
        with open(path, encoding="utf-8") as f:
            document = json.load(f)
    except OSError as exc:
        problems.append(f"{path}: cannot read: {exc.strerror}")
        return None
    except ValueError as exc:
        problems.append(f"{path}: not valid JSON: {exc}")
        return None
    if isinstance(document, dict):
        ignored.extend(_unknown_keys(path, document, ("task-runners",)))
    entries = document.get("task-runners") if isinstance(document, dict) else None
    if not isinstance(entries, list) or not entries:
        problems.append(f"{path}: task-runners: expected a non-empty array")
        return None
    return entries


def _parse_entries(
    path: str,
    entries: list[Any],
    runner_types: Sequence[str],
    problems: list[str],
    ignored: list[str],
) -> dict[str, RunnerSpec]:
    found: dict[str, RunnerSpec] = {}
    single = len(runner_types) == 1
    for index, entry in enumerate(entries):
        where = f"{path}: task-runners[{index}]"
        if isinstance(entry, dict):
            ignored.extend(_unknown_keys(where, entry, ENTRY_KEYS))
        spec = _parse_entry(where, entry, single, problems)
        if spec is not None and spec.runner_type in runner_types:
            found[spec.runner_type] = spec
    ports = [spec.health_check_port for spec in found.values()]
    if len(set(ports)) != len(ports):
        problems.append(f"{path}: health-check-server-port: each runner needs its own port")
    return found


def _parse_entry(where: str, entry: Any, single: bool, problems: list[str]) -> RunnerSpec | None:
    if not isinstance(entry, dict):
        problems.append(f"{where}: expected an object")
        return None
    before = len(problems)
    runner_type = _field(entry, "runner-type", str, where, problems)
    command = _field(entry, "command", str, where, problems)
    workdir = _field(entry, "workdir", str, where, problems, default=".")
    args = _string_list(entry, "args", where, problems)
    allowed_env = _string_list(entry, "allowed-env", where, problems)
    default_env = _string_map(entry, "default-env", where, problems)
    overrides = _string_map(entry, "env-overrides", where, problems)
    port = _health_port(entry, where, single, problems)
    if len(problems) > before:
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


def _unknown_keys(where: str, entry: Mapping[str, Any], known: Sequence[str]) -> list[str]:
    """One line per key not in ``known``, with the nearest known key when one is close."""
    found = []
    for key in entry:
        if key in known:
            continue
        nearest = difflib.get_close_matches(str(key), known, n=1, cutoff=0.6)
        hint = f" (did you mean {nearest[0]!r}?)" if nearest else f" (known: {', '.join(known)})"
        found.append(f"{where}: {key}: unknown key, ignored{hint}")
    return found


def _string_map(entry: dict[str, Any], key: str, where: str, problems: list[str]) -> dict[str, str]:
    value = entry.get(key, {})
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        problems.append(f"{where}: {key}: expected an object of string values")
        return {}
    return value


_MISSING = object()


def _field(
    entry: dict[str, Any],
    key: str,
    kind: type,
    where: str,
    problems: list[str],
    default: Any = _MISSING,
) -> Any:
    value = entry.get(key, default)
    if value is _MISSING:
        problems.append(f"{where}: {key}: required")
    elif not isinstance(value, kind):
        problems.append(f"{where}: {key}: expected a {kind.__name__}, got {value!r}")
    else:
        return value
    return kind()


def _string_list(entry: dict[str, Any], key: str, where: str, problems: list[str]) -> list[str]:
    value = entry.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        problems.append(f"{where}: {key}: expected an array of strings")
        return []
    return value


def _health_port(entry: dict[str, Any], where: str, single: bool, problems: list[str]) -> int:
    value = entry.get("health-check-server-port")
    if value is None:
        if not single:
            problems.append(f"{where}: health-check-server-port: required with several runners")
        return 5681
    text = str(value)
    if text in RESERVED_PORTS or not text.isdigit() or not 0 < int(text) < 65536:
        problems.append(
            f"{where}: health-check-server-port: expected a free port other than "
            f"5678-5680, got {value!r}"
        )
        return 5681
    return int(text)


def check_runner_paths(spec: RunnerSpec) -> list[str]:
    """Problems with the runner's ``command`` and ``workdir`` on this machine."""
    import shutil

    found = []
    if not os.path.isdir(spec.workdir):
        found.append(f"{spec.runner_type}: workdir: no such directory {spec.workdir!r}")
    command = spec.command
    if os.sep in command and not os.path.isabs(command):
        command = os.path.join(spec.workdir, command)  # the runner starts in its workdir
    if shutil.which(command) is None:
        found.append(f"{spec.runner_type}: command: not an executable: {spec.command!r}")
    return found


def raise_for_paths(specs: Sequence[RunnerSpec]) -> None:
    """Raise :class:`ConfigError` if any runner's command or workdir is unusable."""
    found = [p for spec in specs for p in check_runner_paths(spec)]
    if found:
        raise ConfigError(found, source="task-runners")
