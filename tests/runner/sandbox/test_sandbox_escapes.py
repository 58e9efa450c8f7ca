"""Known sandbox escapes must end as task errors, never as a crash or a result.

Each escape runs in-process (static check + filtered builtins + checking
importer) and, in one batch, through a real executor (adding the task
process's lock-down).  The process-wide measures get their own tests.
"""

from __future__ import annotations

import pytest
import trio
from inprocess import run_in_process

from trio_launcher.runner.executor.task_executor import TaskExecutor, TaskOutcome, open_executor
from trio_launcher.runner.sandbox.policy import SandboxPolicy

ALL = "runOnceForAllItems"
SECURITY = "Security violations detected"

#: (code, what the error message says)
ESCAPES = {
    "dunder walk to __subclasses__": (
        "return ().__class__.__bases__[0].__subclasses__()",
        SECURITY,
    ),
    "object subclass walk via __mro__": (
        "return [].__class__.__mro__[-1].__subclasses__()",
        SECURITY,
    ),
    "dynamic __import__": ("return __import__('o' + 's')", SECURITY),
    "literal __import__ of a denied module": ("return __import__('os')", SECURITY),
    "format-string attribute walk": ('return "{0.__class__}".format(1)', SECURITY),
    "format-string walk to globals": ('return "{0.__call__.__globals__}".format(print)', SECURITY),
    "generator frame globals": ("return (x for x in []).gi_frame.f_globals", SECURITY),
    "coroutine frame": ("async def f():\n    pass\nreturn f().cr_frame", SECURITY),
    "traceback frame": (
        "try:\n    1 / 0\nexcept Exception as e:\n    return e.__traceback__.tb_frame.f_globals",
        SECURITY,
    ),
    "getattr with a computed name": ("return getattr(print, '__cl' + 'ass__')", "getattr"),
    "sys.modules": ("import sys\nreturn sys.modules['os']", SECURITY),
    "importlib": ("import importlib\nreturn importlib.import_module('os')", SECURITY),
    "open": ("return open('/etc/passwd').read()", "'open' is not defined"),
    "exec": ("exec('import os')", "'exec' is not defined"),
    "eval": ("return eval('1 + 1')", "'eval' is not defined"),
    "compile": ("return compile('1', 'x', 'eval')", "'compile' is not defined"),
    "type()": ("return type(1)", "'type' is not defined"),
    "object": ("return object", "'object' is not defined"),
    "class definition": ("class A:\n    pass", "__build_class__"),
    "print.__self__": ("return print.__self__", SECURITY),
    "wrapper internals": ("return print.__call__.__func__", SECURITY),
    "lambda __globals__": ("return (lambda: 0).__globals__", SECURITY),
    "function __code__": ("def f():\n    pass\nreturn f.__code__.co_consts", SECURITY),
    "__builtins__ by name": ("return __builtins__['open']", SECURITY),
    "__loader__": ("return __loader__.load_module('os')", SECURITY),
    "breakpoint()": ("breakpoint()", "'breakpoint' is not defined"),
    "vars()": ("return vars()", "'vars' is not defined"),
    "globals()": ("return globals()", "'globals' is not defined"),
    "memoryview": ("return memoryview(b'x')", "'memoryview' is not defined"),
    "match-pattern attribute": (
        "match print:\n    case object(__self__=s):\n        return s",
        SECURITY,
    ),
    "relative import": ("from . import secrets", SECURITY),
}


def run(code: str, policy: SandboxPolicy | None = None) -> dict[str, object]:
    return run_in_process({"code": code, "nodeMode": ALL, "items": []}, policy)


@pytest.mark.parametrize(("code", "message"), ESCAPES.values(), ids=ESCAPES.keys())
def test_escape_fails_as_a_task_error(code: str, message: str) -> None:
    reply = run(code)
    assert "result" not in reply, reply
    error = reply["error"]
    assert isinstance(error, dict)
    assert message in error["message"] + error.get("description", "")


async def test_escapes_fail_in_task_processes_and_the_executor_keeps_serving() -> None:
    with trio.fail_after(60):
        async with open_executor(SandboxPolicy()) as executor:
            for name, (code, message) in ESCAPES.items():
                outcome = await executor.run(
                    {"code": code, "nodeMode": ALL, "items": []}, timeout=20
                )
                assert not outcome.ok, name
                assert outcome.error is not None
                assert message in outcome.error["message"] + outcome.error.get("description", ""), (
                    name
                )
            assert (await run_ok(executor, "return 'still here'")).result == "still here"


async def run_ok(executor: TaskExecutor, code: str) -> TaskOutcome:
    outcome = await executor.run({"code": code, "nodeMode": ALL, "items": []}, timeout=20)
    assert outcome.ok, outcome.error
    return outcome


# -- what the allowlists open up ----------------------------------------------

COMMON = SandboxPolicy.from_strings(stdlib_allow="json,datetime,random,uuid,collections")

#: Ways out through modules people commonly allow.
MODULE_ESCAPES = {
    "json.codecs.open": "import json\nreturn json.codecs.open('/etc/hostname').read()",
    "datetime.sys.modules": "import datetime\nreturn datetime.sys.modules['builtins']",
    "random._os": "import random\nreturn random._os.system('true')",
    "from random import _os": "from random import _os\nreturn _os",
    "uuid runs programs": "import uuid\nreturn uuid._get_command_stdout('id')",
    "uuid.os": "import uuid\nreturn uuid.os.environ",
    "collections._sys": "import collections\nreturn collections._sys.modules",
}


@pytest.mark.parametrize("code", MODULE_ESCAPES.values(), ids=MODULE_ESCAPES.keys())
def test_allowed_modules_do_not_hand_out_other_modules_or_private_names(code: str) -> None:
    reply = run(code, COMMON)
    assert "result" not in reply, reply
    error = reply["error"]
    assert isinstance(error, dict)
    # Refused statically ("Security violations detected") or by the module view.
    assert error["message"].startswith("Security violation") or "cannot import" in error["message"]


async def test_module_escapes_fail_in_task_processes_too() -> None:
    with trio.fail_after(60):
        async with open_executor(COMMON) as executor:
            for name, code in MODULE_ESCAPES.items():
                outcome = await executor.run(
                    {"code": code, "nodeMode": ALL, "items": []}, timeout=20
                )
                assert outcome.error is not None, name


def test_allowed_modules_still_work_through_their_public_api() -> None:
    code = (
        "import json, datetime, random, collections\n"
        "import json.decoder\n"
        "random.seed(7)\n"
        "return [json.loads('[1]'), datetime.date(2024, 1, 2).isoformat(),\n"
        "        json.decoder.JSONDecodeError.__name__, collections.abc.Mapping.__name__,\n"
        "        random.randint(1, 6) in range(1, 7), json.__name__]"
    )
    assert run(code, COMMON)["result"] == [
        [1], "2024-01-02", "JSONDecodeError", "Mapping", True, "json",
    ]  # fmt: skip
    os_allowed = SandboxPolicy.from_strings(stdlib_allow="os")
    assert run("import os\nreturn os.path.join('a', 'b')", os_allowed)["result"] == "a/b"


def test_an_allowed_stdlib_module_imports_fine() -> None:
    policy = SandboxPolicy.from_strings(stdlib_allow="json")
    assert run("import json\nreturn json.loads('[1, 2]')", policy) == {
        "result": [1, 2],
        "print_args": [],
    }
    assert "'math' is disallowed" in str(run("import math", policy))


def test_star_allows_every_import() -> None:
    policy = SandboxPolicy.from_strings(stdlib_allow="*", external_allow="*")
    reply = run("import os, sys, math\nreturn math.floor(2.5)", policy)
    assert reply["result"] == 2


# -- the task process's own measures ----------------------------------------


async def test_task_processes_only_see_allowlisted_modules() -> None:
    policy = SandboxPolicy.from_strings(stdlib_allow="sys,importlib")
    with trio.fail_after(30):
        async with open_executor(policy) as executor:
            modules = (await run_ok(executor, "import sys\nreturn sorted(sys.modules)")).result
            assert isinstance(modules, list)
            assert {"sys", "builtins"} <= set(modules)
            for hidden in ("os", "json", "socket", "ctypes", "trio_launcher.runner.worker.zygote"):
                assert hidden not in modules

            outcome = await executor.run(
                {"code": "import sys\nreturn sys.modules['os']", "nodeMode": ALL, "items": []},
                timeout=20,
            )
            assert outcome.error is not None
            assert outcome.error["message"] == "'os'"

            code = "import importlib\nreturn importlib.import_module('os')"
            outcome = await executor.run({"code": code, "nodeMode": ALL, "items": []}, timeout=20)
            assert outcome.error is not None
            assert outcome.error["message"].startswith("Security violation detected")


async def test_environment_is_cleared_except_the_allowlist(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNNER_SECRET", "hunter2")
    monkeypatch.setenv("SHARED_SETTING", "visible")
    # Without Landlock, which would refuse /proc outright: this is the worker's own measure.
    policy = SandboxPolicy.from_strings(
        stdlib_allow="os", builtins_deny="", env_allow="SHARED_SETTING", disabled_layers="landlock"
    )
    code = (
        "import os\n"
        "with open('/proc/self/environ', 'rb') as f:\n"
        "    initial = f.read().decode()\n"
        "return {'environ': dict(os.environ), 'initial': initial}"
    )
    with trio.fail_after(30):
        async with open_executor(policy) as executor:
            result = (await run_ok(executor, code)).result
    assert isinstance(result, dict)
    assert result["environ"] == {"SHARED_SETTING": "visible"}
    # Not even the process's start-up environment holds the runner's secrets.
    assert "hunter2" not in result["initial"]


async def test_environment_is_kept_when_access_is_not_blocked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SHARED_SETTING", "visible")
    policy = SandboxPolicy.from_strings(stdlib_allow="os", block_env_access="false")
    with trio.fail_after(30):
        async with open_executor(policy) as executor:
            outcome = await run_ok(executor, "import os\nreturn os.environ.get('SHARED_SETTING')")
    assert outcome.result == "visible"
