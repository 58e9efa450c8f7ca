"""Whatever a task's settings hold, and whatever JSON cannot carry it returns, only it fails.

Each example sends a batch of tasks at once to one real runner behind the
embedded broker: every task gets an answer (a result or its own error, in
n8n's shape), and a normal task still works after them.
"""

from __future__ import annotations

import math
from typing import Any

import trio
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from trio_launcher.broker import BrokerConfig, TaskFailed, open_broker
from trio_launcher.runner import RunnerConfig, run_runner

FUZZ = hypothesis_settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)
MODES = st.sampled_from(["runOnceForAllItems", "runOnceForEachItem"])
NOT_JSON_NUMBERS = ["float('nan')", "float('inf')", "-float('inf')"]
CODES = st.sampled_from(
    [
        "return _items",
        "return {'json': {}}",
        "raise ValueError('bad')",
        "print(float('nan'))\nreturn []",
        "return '\ud800'",  # a lone surrogate, as a JSON escape can make it
        "\ud800",
        "return [{'json': {'s': chr(0xD800)}}]",
        *(f"return [{{'json': {{'x': {n}}}}}]" for n in NOT_JSON_NUMBERS),
        *(f"return {{'x': {n}}}" for n in NOT_JSON_NUMBERS),
        *(f"return {n}" for n in NOT_JSON_NUMBERS),
    ]
)
MODE = {"nodeMode": "runOnceForAllItems", "items": []}
ITEMS = st.lists(st.fixed_dictionaries({"json": st.dictionaries(st.text(max_size=5), JSON_VALUES)}))
#: Settings as a requester may send them: a settings object whose keys have any
#: shape, or no object at all.
SETTINGS = st.one_of(
    st.fixed_dictionaries(
        {"code": CODES | JSON_VALUES, "nodeMode": MODES | JSON_VALUES},
        optional={
            "items": ITEMS | JSON_VALUES,
            "continueOnFail": st.booleans() | JSON_VALUES,
            "query": JSON_VALUES,
        },
    ),
    JSON_VALUES,
)


def is_n8n_error(error: Any) -> bool:
    """n8n's error payload: an object with a string message (and a string description)."""
    return (
        isinstance(error, dict)
        and isinstance(error.get("message"), str)
        and isinstance(error.get("description", ""), str)
    )


def is_json(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list):
        return all(map(is_json, value))
    if isinstance(value, dict):
        return all(map(is_json, value.values()))
    return True


@FUZZ
@given(batch=st.lists(SETTINGS, min_size=1, max_size=6))
async def test_every_task_gets_an_answer_and_the_runner_goes_on(batch: list[Any]) -> None:
    config = BrokerConfig(port=0, auth_token="s", task_request_timeout=20)
    answers: list[Any] = []
    with trio.fail_after(60):  # a lost task would wait for ever: fail instead of hanging
        async with open_broker(config) as broker, trio.open_nursery() as nursery:
            runner_config = RunnerConfig(
                grant_token=broker.issue_grant_token(),
                task_broker_uri=broker.url,
                task_memory_limit_mb=0,
                max_concurrency=len(batch),
            )
            runner = await nursery.start(run_runner, runner_config)

            async def submit(settings: Any) -> None:
                try:
                    answers.append(("result", (await broker.run_task("python", settings)).result))
                except TaskFailed as failed:
                    answers.append(("error", failed.error))

            async with trio.open_nursery() as tasks:
                for settings in batch:
                    tasks.start_soon(submit, settings)
            after = await broker.run_task("python", {"code": "return [{'json': {}}]", **MODE})
            await runner.stop()
    assert len(answers) == len(batch)
    assert all(is_json(answer) for _, answer in answers)
    assert all(is_n8n_error(answer) for kind, answer in answers if kind == "error")
    assert after.result == [{"json": {}}]
    assert runner.exit_code == 0


async def test_a_result_json_cannot_carry_is_that_tasks_error_in_both_modes() -> None:
    config = BrokerConfig(port=0, auth_token="s", task_request_timeout=20)
    async with open_broker(config) as broker, trio.open_nursery() as nursery:
        runner_config = RunnerConfig(
            grant_token=broker.issue_grant_token(), task_broker_uri=broker.url,
            task_memory_limit_mb=0,
        )  # fmt: skip
        runner = await nursery.start(run_runner, runner_config)
        errors = []
        for mode, code in [
            ("runOnceForAllItems", "return [{'json': {'x': float('nan')}}]"),
            ("runOnceForEachItem", "return {'x': float('inf')}"),
        ]:
            settings = {"code": code, "nodeMode": mode, "items": [{"json": {}}]}
            try:
                await broker.run_task("python", settings)
            except TaskFailed as failed:
                errors.append(failed.error)
        after = await broker.run_task("python", {"code": "return []", **MODE})
        await runner.stop()
    assert [e["message"] for e in errors] == [
        "Task result could not be serialised: Out of range float values are not JSON compliant"
    ] * 2
    assert all(is_n8n_error(e) and e["description"] for e in errors)
    assert after.result == []


async def test_settings_of_the_wrong_shape_are_that_tasks_error() -> None:
    config = BrokerConfig(port=0, auth_token="s", task_request_timeout=20)
    async with open_broker(config) as broker, trio.open_nursery() as nursery:
        runner_config = RunnerConfig(
            grant_token=broker.issue_grant_token(), task_broker_uri=broker.url,
            task_memory_limit_mb=0,
        )  # fmt: skip
        runner = await nursery.start(run_runner, runner_config)
        messages = []
        for settings in [
            "return []",
            ["return []"],
            {"code": "return []", "nodeMode": ["runOnceForAllItems"]},
            {"code": "return []", "nodeMode": {"mode": "runOnceForAllItems"}},
            {"code": "return '\ud800'\n\ud800", "nodeMode": "runOnceForAllItems"},
        ]:
            try:
                await broker.run_task("python", settings)
            except TaskFailed as failed:
                assert is_n8n_error(failed.error)
                messages.append(failed.error["message"])
        await runner.stop()
    assert messages == [
        "Invalid task settings: expected an object, got a string",
        "Invalid task settings: expected an object, got an array",
        "Unknown nodeMode: expected a string, got an array",
        "Unknown nodeMode: expected a string, got an object",
        "Invalid task settings: 'code' is not valid text: surrogates not allowed",
    ]
