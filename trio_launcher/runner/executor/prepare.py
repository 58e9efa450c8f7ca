"""Turn a task's settings into something a task process can run (runner side).

:func:`prepare_task` validates the settings, runs the static security check
and compiles the code, so that rejected code never costs a process.  Like
n8n, security and syntax errors are reported here, before the execution
step, so ``continueOnFail`` never converts them.

Compiling also rewrites every ``x.format`` / ``x.format_map`` read whose
receiver is not a string literal into ``FORMAT_HOOK(x, "format")`` (see
:mod:`trio_launcher.runner.sandbox.safe_format`): a template built at run time is checked when used.
Literal templates were checked statically and keep the plain, fast path.
"""

from __future__ import annotations

import ast
import functools
import warnings
from collections.abc import Mapping
from types import CodeType
from typing import Any

import attrs

from trio_launcher.runner.code_node.error_payloads import security_error, syntax_error
from trio_launcher.runner.code_node.user_code import (
    FILENAMES,
    FORMAT_HOOK,
    FORMAT_METHODS,
    WRAPPER_NAME,
)
from trio_launcher.runner.sandbox import static_check
from trio_launcher.runner.sandbox.policy import SandboxPolicy

COMPILE_CACHE_SIZE = 500


@attrs.frozen
class PreparedTask:
    """A task ready to run: its request and its code.

    For :func:`trio_launcher.runner.code_node.run.run_code_task`, in the task process.
    """

    request: dict[str, Any]
    code: CodeType

    @property
    def continue_on_fail(self) -> bool:
        """Whether execution failures become an error item instead of an error."""
        return bool(self.request["continueOnFail"])


def prepare_task(settings: object, policy: SandboxPolicy) -> PreparedTask | dict[str, Any]:
    """Validate, check and compile; return the task or an n8n error payload.

    *settings* is whatever the broker forwarded: any JSON value.
    """
    if not isinstance(settings, Mapping):
        return {
            "message": f"Invalid task settings: expected an object, got {_json_type(settings)}",
            "description": "",
        }
    problem = _settings_problem(settings)
    if problem is not None:
        return {"message": problem}
    source, mode = settings["code"], settings["nodeMode"]
    try:
        violations = static_check.analyze(source, policy)
        if violations:
            return security_error(violations)
        code = compile_user_code(source, mode)
    except SyntaxError as exc:
        return syntax_error(exc)
    except UnicodeEncodeError as exc:  # a lone surrogate, which JSON's \ud800 escapes can make
        return {
            "message": f"Invalid task settings: 'code' is not valid text: {exc.reason}",
            "description": "",
        }
    request = {
        "code": source,
        "nodeMode": mode,
        "items": settings.get("items") or [],
        "query": settings.get("query"),
        "continueOnFail": bool(settings.get("continueOnFail", False)),
    }
    return PreparedTask(request, code)


def _settings_problem(settings: Mapping[str, Any]) -> str | None:
    mode = settings.get("nodeMode")
    if not isinstance(mode, str):
        return f"Unknown nodeMode: expected a string, got {_json_type(mode)}"
    if mode not in FILENAMES:
        return f"Unknown nodeMode: {mode[:100]}"
    if not isinstance(settings.get("code"), str):
        return "Invalid task settings: 'code' must be a string"
    if not isinstance(settings.get("items") or [], list):
        return "Invalid task settings: 'items' must be a list"
    return None


def _json_type(value: object) -> str:
    """``a string``, ``an array``...: how the JSON value would be called in JavaScript."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


@functools.lru_cache(maxsize=COMPILE_CACHE_SIZE)
def compile_user_code(source: str, node_mode: str) -> CodeType:
    """Compile *source* as the body of the wrapper function, keeping its line numbers.

    The wrapper is built on the AST rather than by indenting the text, so
    multi-line strings keep their content and every line number in a
    traceback is the user's own.  Raises :class:`SyntaxError`.
    """
    body = static_check.parse(source).body or [ast.Pass(lineno=1, col_offset=0)]
    wrapper = ast.FunctionDef(
        name=WRAPPER_NAME,
        args=ast.arguments(
            posonlyargs=[], args=[], vararg=None, kwonlyargs=[], kw_defaults=[], kwarg=None,
            defaults=[],
        ),
        body=body,
        decorator_list=[],
        returns=None,
        type_comment=None,
        lineno=1,
        col_offset=0,
    )  # fmt: skip
    module = _FormatHook().visit(ast.Module(body=[wrapper], type_ignores=[]))
    ast.fix_missing_locations(module)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return compile(module, FILENAMES[node_mode], "exec", dont_inherit=True)


class _FormatHook(ast.NodeTransformer):
    """Rewrites ``x.format`` (read, non-literal ``x``) into ``FORMAT_HOOK(x, "format")``."""

    def visit_Attribute(self, node: ast.Attribute) -> ast.expr:
        self.generic_visit(node)
        if node.attr not in FORMAT_METHODS or not isinstance(node.ctx, ast.Load):
            return node
        if isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            return node
        hook = ast.Call(
            func=ast.Name(id=FORMAT_HOOK, ctx=ast.Load()),
            args=[node.value, ast.Constant(value=node.attr)],
            keywords=[],
        )
        return ast.copy_location(hook, node)
