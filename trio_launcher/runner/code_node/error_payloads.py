"""n8n error payloads (``runner:taskerror.error``) for the ways a task can fail.

A user exception becomes ``{"message", "description", "stack", "stderr",
"lineNumber"}`` where the stack holds only the user's frames, with the line
numbers of the code as the user wrote it.  Pure functions; no heavy imports
(this module is loaded by the pre-started worker).
"""

from __future__ import annotations

from trio_launcher.runner.code_node.user_code import FILENAMES, WRAPPER_NAME

TYPE_CHECKING = False  # keep `typing` out of the worker
if TYPE_CHECKING:
    from collections.abc import Iterable
    from types import TracebackType
    from typing import Any

SECURITY_VIOLATIONS = "Security violations detected"
_USER_FILENAMES = frozenset(FILENAMES.values())


def user_error(
    exc: BaseException,
    *,
    source: str,
    stderr: str = "",
    memory_limit_mb: int | None = None,
) -> dict[str, Any]:
    """The payload for an exception raised while user code ran."""
    frames = _user_frames(exc.__traceback__)
    payload: dict[str, Any] = {
        "message": _message(exc, memory_limit_mb),
        "description": _description(exc, stderr),
        "stack": _stack(frames, source.splitlines(), exc),
        "stderr": stderr,
    }
    if frames:
        payload["lineNumber"] = frames[-1][2]
    return payload


def syntax_error(exc: SyntaxError) -> dict[str, Any]:
    """``{"message": "invalid syntax (<unknown>, line 1)"}``, plus ``lineNumber``."""
    payload: dict[str, Any] = {"message": str(exc)}
    if exc.lineno:
        payload["lineNumber"] = exc.lineno
    return payload


def security_error(violations: Iterable[str]) -> dict[str, Any]:
    """The payload for code rejected by the static check (one line per finding)."""
    return {"message": SECURITY_VIOLATIONS, "description": "\n".join(violations)}


def exit_code(exc: SystemExit) -> int:
    """The process exit code ``SystemExit`` stands for (as the interpreter maps it)."""
    if exc.code is None:
        return 0
    return exc.code if isinstance(exc.code, int) else 1


def _message(exc: BaseException, memory_limit_mb: int | None) -> str:
    if isinstance(exc, SystemExit):
        return f"Process exited with code {exit_code(exc)}"
    if isinstance(exc, MemoryError) and memory_limit_mb:
        return f"Task ran out of memory (limit {memory_limit_mb} MB)"
    return _safe_str(exc) or type(exc).__name__


def _description(exc: BaseException, stderr: str) -> str:
    try:
        description = getattr(exc, "description", None)
    except Exception:
        description = None
    if isinstance(description, str) and description:
        return description
    return stderr or ""


def _user_frames(tb: TracebackType | None) -> list[tuple[str, str, int]]:
    """``(filename, function, line)`` for each traceback entry in user code."""
    frames = []
    while tb is not None:
        code = tb.tb_frame.f_code
        if code.co_filename in _USER_FILENAMES and tb.tb_lineno is not None:
            name = "<module>" if code.co_name == WRAPPER_NAME else code.co_name
            frames.append((code.co_filename, name, tb.tb_lineno))
        tb = tb.tb_next
    return frames


def _stack(frames: list[tuple[str, str, int]], lines: list[str], exc: BaseException) -> str:
    parts = ["Traceback (most recent call last):\n"] if frames else []
    for filename, name, line in frames:
        parts.append(f'  File "{filename}", line {line}, in {name}\n')
        if 0 < line <= len(lines) and lines[line - 1].strip():
            parts.append(f"    {lines[line - 1].strip()}\n")
    parts.append(_exception_line(exc))
    return "".join(parts)


def _exception_line(exc: BaseException) -> str:
    cls = type(exc)
    name = cls.__qualname__
    if cls.__module__ not in ("builtins", "__main__"):
        name = f"{cls.__module__}.{name}"
    text = _safe_str(exc)
    return f"{name}: {text}" if text else name


def _safe_str(value: object) -> str:
    try:
        return str(value)
    except Exception:
        return ""
