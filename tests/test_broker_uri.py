"""N8N_RUNNERS_TASK_BROKER_URI: one check and one host:port for the runner and the launcher."""

from __future__ import annotations

from unittest import mock

from hypothesis import given
from hypothesis import strategies as st

from trio_launcher.broker_uri import BROKER_URI_SCHEMES, broker_netloc, broker_uri_issues
from trio_launcher.config_error import ConfigError, ConfigIssue
from trio_launcher.launcher import LauncherConfig, load_launcher_config
from trio_launcher.launcher import config as launcher_config_module
from trio_launcher.runner import RunnerConfig

VARIABLE = "N8N_RUNNERS_TASK_BROKER_URI"
HOSTS = st.from_regex(r"[a-z][a-z0-9-]{0,15}(\.[a-z][a-z0-9-]{0,15}){0,3}", fullmatch=True)
HOSTS |= st.ip_addresses(v=4).map(str)
PORTS = st.integers(min_value=1, max_value=65535)
PATHS = st.sampled_from(["", "/", "/n8n", "/runners/"])
SCHEMES = st.sampled_from(BROKER_URI_SCHEMES).flatmap(lambda s: st.sampled_from([s, s.upper()]))


@given(scheme=SCHEMES, host=HOSTS, port=PORTS, path=PATHS)
def test_a_broker_address_in_every_served_scheme_is_accepted(
    scheme: str, host: str, port: int, path: str
) -> None:
    uri = f"{scheme}://{host}:{port}{path}"
    assert broker_uri_issues(uri) == []
    assert broker_netloc(uri) == f"{host}:{port}"


@given(
    scheme=st.from_regex(r"[a-z][a-z0-9+.-]{0,8}", fullmatch=True).filter(
        lambda s: s not in BROKER_URI_SCHEMES
    ),
    host=HOSTS,
    port=PORTS,
)
def test_a_scheme_the_broker_does_not_serve_is_refused(scheme: str, host: str, port: int) -> None:
    uri = f"{scheme}://{host}:{port}"
    message = f"expected http(s)://HOST:PORT (or ws(s)://), got {uri!r}"
    assert broker_uri_issues(uri) == [ConfigIssue(key=VARIABLE, message=message)]


@given(host=HOSTS, port=PORTS, query=st.from_regex(r"[a-z0-9=&]{1,10}", fullmatch=True))
def test_a_query_string_is_refused(host: str, port: int, query: str) -> None:
    [issue] = broker_uri_issues(f"http://{host}:{port}/?{query}")
    assert issue.key == VARIABLE
    assert "query" in issue.message


def test_a_uri_without_a_host_or_with_a_bad_port_is_refused() -> None:
    for uri in ("http://", "http://:5679", "http://host:port", "http://[::1", "127.0.0.1:5679"):
        assert [issue.key for issue in broker_uri_issues(uri)] == [VARIABLE], uri


def uri_problems_of_the_runner(uri: str) -> list[str]:
    try:
        RunnerConfig.from_env({"N8N_RUNNERS_GRANT_TOKEN": "g", VARIABLE: uri})
    except ConfigError as exc:
        return exc.problems
    return []


def uri_problems_of_the_launcher(uri: str) -> list[str]:
    environ = {"N8N_RUNNERS_AUTH_TOKEN": "secret", VARIABLE: uri}
    with mock.patch.object(launcher_config_module, "DEFAULT_CONFIG_PATH", "/nonexistent.json"):
        try:
            load_launcher_config(["python"], environ)
        except ConfigError as exc:
            return exc.problems
    return []


@given(
    uri=st.text(max_size=40)
    | st.builds("{}://{}:{}{}".format, SCHEMES | st.text(max_size=5), HOSTS, PORTS, PATHS)
)
def test_the_runner_and_the_launcher_take_the_same_broker_uris(uri: str) -> None:
    runner, launcher = uri_problems_of_the_runner(uri), uri_problems_of_the_launcher(uri)
    assert runner == launcher == [str(issue) for issue in broker_uri_issues(uri)]


def test_both_configs_use_the_same_host_and_port() -> None:
    uri = "https://broker.internal:15679/n8n"
    launcher = LauncherConfig(auth_token="a", runners=(), task_broker_uri=uri)
    assert RunnerConfig(task_broker_uri=uri).broker_netloc == "broker.internal:15679"
    assert launcher.broker_netloc == "broker.internal:15679"
