"""launcher.yaml: the documented sample, HiveOT keys, and error reports with lines."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from trio_launcher.supervisor import (
    ConfigError,
    RestartPolicy,
    load_config,
    parse_config,
    take_inventory,
)

DOCS = Path(__file__).parents[2] / "docs" / "supervisor.md"


def sample_yaml() -> str:
    """The sample launcher.yaml of docs/supervisor.md."""
    text = DOCS.read_text()
    marker = text.index("<!-- sample-launcher-yaml")
    match = re.search(r"```yaml\n(.*?)```", text[marker:], re.DOTALL)
    assert match is not None
    return match[1]


def parse(text: str, tmp_path: Path) -> object:
    return parse_config(textwrap.dedent(text), tmp_path / "launcher.yaml")


def issues_of(text: str, tmp_path: Path) -> list[str]:
    with pytest.raises(ConfigError) as error:
        parse(text, tmp_path)
    return [
        str(issue).removeprefix(f"{tmp_path / 'launcher.yaml'}:") for issue in error.value.issues
    ]


def test_the_documented_sample_loads(tmp_path: Path) -> None:
    path = tmp_path / "launcher.yaml"
    path.write_text(sample_yaml())
    config = load_config(path)
    assert config.refused == {}
    assert config.core == "runtime"
    assert config.autostart == ("history", "hiveoview", "owserver")
    assert config.plugins_dirs == (tmp_path / "plugins",)
    assert config.control_socket == tmp_path / "launcher.sock"
    history = config.plugins["history"]
    assert history.depends_on == ("runtime",)
    assert history.limits.memory_bytes == 200 * 2**20
    assert history.limits.duration == 30.0
    assert history.backoff.maximum == 3600.0
    assert config.plugins["hiveoview"].restart is RestartPolicy.ALWAYS
    assert config.plugins["hiveoview"].cwd == tmp_path / "www"
    assert config.plugins["owserver"].backoff.initial == 5.0
    assert config.plugins["owserver"].backoff.maximum == 600.0
    assert config.plugins["owserver"].log.backups == 2
    assert config.plugins["runtime"].ready.line == "listening on"
    assert config.plugins["weather"].command == ("python3", "-m", "weather_binding")
    assert config.plugin_config("unlisted").restart is RestartPolicy.ON_FAILURE
    inventory = take_inventory(config)
    assert inventory["weather"].command == ("python3", "-m", "weather_binding")
    assert inventory["history"].command is None  # no plugins/ folder here
    assert "not found" in (inventory["history"].problem or "")


def test_hiveot_keys_are_understood(tmp_path: Path) -> None:
    config = parse_config(
        textwrap.dedent(
            """\
            logLevel: info
            logsDir: hub-logs
            runtime: runtime
            runtimeWait: 1500
            startWait: 250
            autorestart: true
            createPluginCred: false
            logplugins: true
            attachstderr: true
            keyFile: launcher.key
            autostart:
              - history
              - zwavejs: zwavejs-cb
            """
        ),
        tmp_path / "launcher.yaml",
    )
    assert config.core == "runtime"
    assert config.logs_dir == tmp_path / "hub-logs"
    assert config.create_credentials is False
    assert config.log_level == "info"
    assert config.autostart == ("history", "zwavejs-cb")
    assert config.plugins["zwavejs-cb"].executable == "zwavejs"
    assert config.plugins["runtime"].ready.after == 1.5
    assert config.defaults.ready.after == 0.25
    assert config.defaults.restart is RestartPolicy.ON_FAILURE
    assert config.defaults.log.echo_stderr is True


def test_autorestart_false_means_never(tmp_path: Path) -> None:
    config = parse_config("autorestart: false\n", tmp_path / "launcher.yaml")
    assert config.defaults.restart is RestartPolicy.NEVER


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        *[("true", True), ("yes", True), ("On", True), ("1", True), ('"on"', True)],
        *[("false", False), ("no", False), ("0", False), ('"OFF"', False)],
    ],
)
def test_booleans_are_read_as_every_boolean_setting_is(
    tmp_path: Path, written: str, expected: bool
) -> None:
    config = parse_config(f"createPluginCred: {written}\n", tmp_path / "launcher.yaml")
    assert config.create_credentials is expected


def test_a_boolean_that_is_no_boolean_is_named_with_its_line(tmp_path: Path) -> None:
    issues = issues_of("logtofile: 2\ncreatePluginCred: maybe\n", tmp_path)
    assert issues == [
        "1: logtofile: expected true or false, got 2",
        "2: createPluginCred: expected true or false, got 'maybe'",
    ]


def test_empty_file_gives_the_defaults(tmp_path: Path) -> None:
    config = parse_config("", tmp_path / "launcher.yaml")
    assert config.plugins_dirs == (tmp_path / "plugins",)
    assert config.autostart == ()


def test_invalid_yaml_is_reported_with_its_line(tmp_path: Path) -> None:
    issues = issues_of("autostart:\n  - a\n  b: [\n", tmp_path)
    assert len(issues) == 1
    assert re.match(r"\d+: invalid YAML", issues[0])


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    issues = issues_of(
        """\
        plugins_dir: plugins
        colour: blue
        monitor_interval: soon
        defaults:
          restart: sometimes
        plugins:
          good: {}
          bad:
            restart: sometimes
            backoff: {initial: 10, max: 5}
            limits: {memory: lots, cpu_percent: -1}
            nonsense: 1
        """,
        tmp_path,
    )
    assert issues == [
        "2: colour: unknown key",
        "3: monitor_interval: expected a duration such as 30, '500ms', '2m' or '1h', got 'soon'",
        "5: defaults.restart: expected one of never, on-failure, always, got 'sometimes'",
        "9: plugins.bad.restart: expected one of never, on-failure, always, got 'sometimes'",
        "10: plugins.bad.backoff.max: must be at least initial (10)",
        "11: plugins.bad.limits.memory: expected a size such as 1048576, '512KB' or '1.5GB', "
        "got 'lots'",
        "11: plugins.bad.limits.cpu_percent: must be at least 0, got -1",
        "12: plugins.bad.nonsense: unknown key",
    ]


def test_a_bad_plugin_entry_refuses_only_that_plugin(tmp_path: Path) -> None:
    config = parse_config(
        textwrap.dedent(
            """\
            autostart: [good, bad]
            plugins:
              good:
                args: [--verbose]
              bad:
                restart: sometimes
                env: {A: 1}
              "no/slash": {}
              cyclic-a: {depends_on: [cyclic-b]}
              cyclic-b: {depends_on: cyclic-a}
            """
        ),
        tmp_path / "launcher.yaml",
    )
    assert list(config.plugins) == ["good"]
    assert config.plugins["good"].args == ("--verbose",)
    assert sorted(config.refused) == ["bad", "cyclic-a", "cyclic-b", "no/slash"]
    (issue,) = config.refused["bad"]
    assert (issue.line, issue.key) == (6, "plugins.bad.restart")
    assert config.refused["cyclic-a"][0].message == "dependency cycle"
    assert config.refused["cyclic-a"][0].line == 9
    inventory = take_inventory(config)
    assert inventory["bad"].command is None
    assert "refused" in (inventory["bad"].problem or "")


def test_durations_and_sizes(tmp_path: Path) -> None:
    config = parse_config(
        textwrap.dedent(
            """\
            scan_interval: 250ms
            monitor_interval: 2m
            plugins:
              p:
                grace_period: 1.5
                backoff: {initial: "0.5s", max: 1h, reset_after: 90}
                limits: {memory: 1.5GB, cpu_percent: 150, for: 10s}
                log: {max_size: 512KB, backups: 0}
                command: ./bin/p --flag "two words"
                env: {COUNT: 3, ON: true}
            """
        ),
        tmp_path / "launcher.yaml",
    )
    assert config.scan_interval == 0.25
    assert config.monitor_interval == 120.0
    plugin = config.plugins["p"]
    assert plugin.grace_period == 1.5
    assert (plugin.backoff.initial, plugin.backoff.maximum) == (0.5, 3600.0)
    assert plugin.backoff.reset_after == 90.0
    assert plugin.limits.memory_bytes == int(1.5 * 2**30)
    assert plugin.limits.cpu_percent == 150.0
    assert plugin.log.max_bytes == 512 * 1024
    assert plugin.log.backups == 0
    assert plugin.command == (str(tmp_path / "bin" / "p"), "--flag", "two words")
    assert plugin.env == {"COUNT": "3", "ON": "true"}


def test_duplicate_keys_and_aliases_given_twice(tmp_path: Path) -> None:
    issues = issues_of(
        """\
        core: a
        runtime: b
        logs_dir: x
        logs_dir: y
        """,
        tmp_path,
    )
    assert issues == ["2: runtime: same setting as 'core'", "4: logs_dir: duplicate key"]


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "nope.yaml")
