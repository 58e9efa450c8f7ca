"""Code-node semantics, run in-process (same code path as a task process, minus isolation)."""

from __future__ import annotations

from typing import Any

import pytest
from inprocess import run_in_process

from trio_launcher.runner.code_node.print_capture import MAX_PRINT_CALLS, format_print_arg
from trio_launcher.runner.sandbox.policy import SandboxPolicy

ALL = "runOnceForAllItems"
EACH = "runOnceForEachItem"


def run(code: str, items: list[Any] | None = None, mode: str = ALL, **settings: Any) -> Any:
    reply = run_in_process({"code": code, "nodeMode": mode, "items": items or [], **settings})
    assert set(reply) == {"result", "print_args"} or set(reply) == {"error", "print_args"}
    return reply


def result_of(code: str, items: list[Any] | None = None, mode: str = ALL, **settings: Any) -> Any:
    reply = run(code, items, mode, **settings)
    assert "error" not in reply, reply
    return reply["result"]


def error_of(code: str, items: list[Any] | None = None, mode: str = ALL, **settings: Any) -> Any:
    reply = run(code, items, mode, **settings)
    assert "error" in reply, reply
    return reply["error"]


# -- all items ---------------------------------------------------------------


def test_all_items_returns_what_the_code_returns() -> None:
    items = [{"json": {"v": 1}}, {"json": {"v": 2}}]
    code = 'return [{"json": {"sum": sum(i["json"]["v"] for i in _items)}}]'
    assert result_of(code, items) == [{"json": {"sum": 3}}]


def test_all_items_sees_items_exactly_as_received_and_the_query() -> None:
    items = [{"json": {"a": 1}, "binary": {"f": {"data": "x"}}, "pairedItem": {"item": 0}}]
    assert result_of("return {'items': _items, 'query': _query}", items, query={"q": 1}) == {
        "items": items,
        "query": {"q": 1},
    }
    assert result_of("return _query", items) is None


def test_code_without_return_gives_none() -> None:
    assert result_of("x = [1, 2, 3]") is None
    assert result_of("") is None


def test_code_may_define_and_call_functions_and_comprehensions() -> None:
    code = "def double(x):\n    return 2 * x\n\nreturn [double(i) for i in range(3)]"
    assert result_of(code) == [0, 2, 4]


def test_multi_line_strings_keep_their_content() -> None:
    assert result_of('text = """a\n  b\nc"""\nreturn text') == "a\n  b\nc"


# -- per item ----------------------------------------------------------------


def test_per_item_pairs_each_output_with_its_input_and_skips_none() -> None:
    items = [{"json": {"v": 1}}, {"json": {"v": 2}}, {"json": {"v": 3}}]
    code = (
        'if _item["json"]["v"] == 2:\n'
        "    return None\n"
        'return {"json": {"w": _item["json"]["v"] * 10}}'
    )
    assert result_of(code, items, EACH) == [
        {"json": {"w": 10}, "pairedItem": {"item": 0}},
        {"json": {"w": 30}, "pairedItem": {"item": 2}},
    ]


def test_per_item_passes_binary_through_and_wraps_plain_dicts() -> None:
    items = [{"json": {"v": 1}}]
    code = 'return {"v": _item["json"]["v"], "binary": {"file": {"data": "AA=="}}}'
    assert result_of(code, items, EACH) == [
        {"json": {"v": 1}, "pairedItem": {"item": 0}, "binary": {"file": {"data": "AA=="}}}
    ]


def test_per_item_non_dict_values_become_the_json() -> None:
    assert result_of("return 5", [{"json": {}}, {"json": {}}], EACH) == [
        {"json": 5, "pairedItem": {"item": 0}},
        {"json": 5, "pairedItem": {"item": 1}},
    ]


def test_per_item_runs_have_no_query_and_do_not_share_globals() -> None:
    code = "global seen\ntry:\n    seen += 1\nexcept NameError:\n    seen = 1\nreturn seen"
    assert [o["json"] for o in result_of(code, [{}, {}], EACH)] == [1, 1]
    assert "_query" in error_of("return _query", [{}], EACH)["message"]


def test_unknown_node_mode_is_an_error() -> None:
    assert error_of("return 1", mode="runOnceForSomething") == {
        "message": "Unknown nodeMode: runOnceForSomething"
    }


# -- print -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("x", "'x'"),
        ("it's", '"it\'s"'),
        (None, "None"),
        (3, "3"),
        (2.5, "2.5"),
        (True, "True"),
        ([1, "a"], '[1, "a"]'),
        ({"k": "é"}, '{"k": "é"}'),
    ],
)
def test_print_arguments_are_shown_like_n8n(value: Any, shown: str) -> None:
    assert format_print_arg(value) == shown


def test_print_is_captured_per_call_and_values_that_cannot_be_encoded_are_labelled() -> None:
    reply = run('a = []\na.append(a)\nprint("x", 1, None)\nprint(a)\nprint()\nreturn 1')
    assert reply["print_args"] == [["'x'", "1", "None"], ["[Circular list]"], []]


def test_print_keeps_the_first_hundred_calls_then_says_how_many_were_dropped() -> None:
    reply = run("for i in range(105):\n    print(i)")
    assert len(reply["print_args"]) == MAX_PRINT_CALLS + 1
    assert reply["print_args"][:2] == [["0"], ["1"]]
    assert reply["print_args"][-1] == ["[Output truncated - 5 more print statements]"]


def test_print_output_survives_an_error() -> None:
    reply = run('print("before")\nraise ValueError("boom")')
    assert reply["print_args"] == [["'before'"]]
    assert reply["error"]["message"] == "boom"


# -- errors ------------------------------------------------------------------


def test_user_error_points_at_the_users_line_with_a_user_only_stack() -> None:
    code = "x = 1\n\ndef f(d):\n    return d['missing']\n\nreturn f({})"
    error = error_of(code)
    assert error["message"] == "'missing'"
    assert error["lineNumber"] == 4
    assert error["description"] == ""
    stack = error["stack"]
    assert stack.startswith("Traceback (most recent call last):")
    assert 'File "<all_items_task_execution>", line 6, in <module>' in stack
    assert 'File "<all_items_task_execution>", line 4, in f' in stack
    assert "    return d['missing']" in stack
    assert stack.endswith("KeyError: 'missing'")
    assert ".py" not in stack  # none of the runner's own frames


def test_per_item_errors_use_the_per_item_filename() -> None:
    error = error_of("\n1 / 0", [{}], EACH)
    assert error["lineNumber"] == 2
    assert '"<per_item_task_execution>", line 2' in error["stack"]


def test_error_message_falls_back_to_the_exception_type() -> None:
    assert error_of("raise ValueError()")["message"] == "ValueError"


def test_error_description_comes_from_the_exception() -> None:
    policy = SandboxPolicy.from_strings(builtins_deny="")
    code = "class Oops(Exception):\n    description = 'more details'\nraise Oops('short')"
    reply = run_in_process({"code": code, "nodeMode": ALL, "items": []}, policy)
    assert reply["error"]["message"] == "short"
    assert reply["error"]["description"] == "more details"
    assert reply["error"]["lineNumber"] == 3


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("raise SystemExit(3)", "Process exited with code 3"),
        ("raise SystemExit", "Process exited with code 0"),
        ("exit(2)", "Process exited with code 2"),
    ],
)
def test_system_exit_reports_the_exit_code(code: str, message: str) -> None:
    assert error_of(code)["message"] == message


def test_syntax_errors_name_the_users_line() -> None:
    error = error_of("x = 1\nreturn x +")
    assert error == {"message": "invalid syntax (<unknown>, line 2)", "lineNumber": 2}


# -- continueOnFail ----------------------------------------------------------


def test_continue_on_fail_turns_execution_errors_into_an_error_item() -> None:
    assert result_of("1 / 0", continueOnFail=True) == [{"json": {"error": "division by zero"}}]
    assert result_of("return 1 / 0", [{}], EACH, continueOnFail=True) == [
        {"json": {"error": "division by zero"}}
    ]


def test_continue_on_fail_does_not_convert_security_or_syntax_errors() -> None:
    assert error_of("import os", continueOnFail=True)["message"] == "Security violations detected"
    assert "line 1" in error_of("return (", continueOnFail=True)["message"]
