"""n8n Code-node semantics: run compiled user code over the task's items.

Runs inside the task process (and in-process for tests, see
``tests/runner/inprocess.py``).  The code object comes from
:func:`trio_launcher.runner.executor.prepare.compile_user_code`: executing it
defines a function (:data:`~.user_code.WRAPPER_NAME`) whose body is the
user's code, so the code must ``return`` its result.

* ``runOnceForAllItems``: globals ``_items`` (the list as received),
  ``_query`` and ``print``; the result is the return value.
* ``runOnceForEachItem``: one call per item with globals ``_item`` and
  ``print``; ``None`` skips the item, anything else becomes
  ``{"json": J, "pairedItem": {"item": i}}`` (plus ``binary`` when the
  returned dict has one).

An exception while the code runs becomes an error payload, or, with
``continueOnFail``, the result ``[{"json": {"error": message}}]``.

The reply is ``{"result": ..., "print_args": [...]}`` or
``{"error": {...}, "print_args": [...]}``.
"""

from __future__ import annotations

from trio_launcher.runner.code_node.error_payloads import user_error
from trio_launcher.runner.code_node.print_capture import PrintCapture
from trio_launcher.runner.code_node.user_code import ALL_ITEMS, PER_ITEM, WRAPPER_NAME

TYPE_CHECKING = False  # keep `typing` out of the worker
if TYPE_CHECKING:
    from collections.abc import Mapping
    from io import StringIO
    from types import CodeType
    from typing import Any, TextIO

    from trio_launcher.runner.sandbox.runtime import RuntimeSandbox


def run_code_task(
    request: Mapping[str, Any],
    code: CodeType,
    sandbox: RuntimeSandbox,
    *,
    echo: TextIO | None = None,
    stderr: StringIO | None = None,
    memory_limit_mb: int | None = None,
    builtins: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Run one task and return its reply (see the module docstring).

    *request* holds the task settings as n8n sends them (``code``,
    ``nodeMode``, ``items``, ``continueOnFail``, ``query``); *code* is the
    compiled form of ``request["code"]``.  *builtins* is a table from
    :meth:`RuntimeSandbox.build_builtins` for this task alone (its ``print``
    is set here); by default a fresh one is built.
    """
    printer = PrintCapture(echo)
    mode = request.get("nodeMode")
    runner = _MODES.get(mode) if isinstance(mode, str) else None
    if runner is None:
        return {"error": {"message": f"Unknown nodeMode: {mode}"}, "print_args": []}
    table = sandbox.build_builtins() if builtins is None else builtins
    table["print"] = printer.function
    try:
        result = runner(code, request, table, printer)
    except BaseException as exc:  # user code may raise anything, SystemExit included
        error = user_error(
            exc,
            source=str(request.get("code", "")),
            stderr=stderr.getvalue() if stderr is not None else "",
            memory_limit_mb=memory_limit_mb,
        )
        if request.get("continueOnFail"):
            return {
                "result": continue_on_fail_result(error["message"]),
                "print_args": printer.print_args,
            }
        return {"error": error, "print_args": printer.print_args}
    return {"result": result, "print_args": printer.print_args}


def continue_on_fail_result(message: str) -> list[dict[str, Any]]:
    """The result n8n produces for a failed task when ``continueOnFail`` is on."""
    return [{"json": {"error": message}}]


def _call_user_code(code: CodeType, builtins: dict[str, Any], variables: dict[str, Any]) -> Any:
    namespace: dict[str, Any] = {"__builtins__": builtins, **variables}
    exec(code, namespace)
    return namespace[WRAPPER_NAME]()


def _run_all_items(
    code: CodeType,
    request: Mapping[str, Any],
    builtins: dict[str, Any],
    printer: PrintCapture,
) -> Any:
    variables = {
        "_items": request.get("items", []),
        "_query": request.get("query"),
        "print": printer.function,
    }
    return _call_user_code(code, builtins, variables)


def _run_per_item(
    code: CodeType,
    request: Mapping[str, Any],
    builtins: dict[str, Any],
    printer: PrintCapture,
) -> list[dict[str, Any]]:
    output = []
    for index, item in enumerate(request.get("items", [])):
        value = _call_user_code(code, builtins, {"_item": item, "print": printer.function})
        if value is not None:
            output.append(per_item_output(value, index))
    return output


def per_item_output(value: Any, index: int) -> dict[str, Any]:
    """The output item for a per-item return value (n8n's normalisation)."""
    if isinstance(value, dict):
        data = (
            value["json"] if "json" in value else {k: v for k, v in value.items() if k != "binary"}
        )
    else:
        data = value
    entry: dict[str, Any] = {"json": data, "pairedItem": {"item": index}}
    if isinstance(value, dict) and "binary" in value:
        entry["binary"] = value["binary"]
    return entry


_MODES = {ALL_ITEMS: _run_all_items, PER_ITEM: _run_per_item}
