"""The language layer of the sandbox against the routes around it, and published escapes.

Every escape case asserts on its *effect*: what the code would have got
(the real ``open``, a real module, a frame, the guard's rules, a file's
lines, a class reached by a walk) must not appear anywhere in the reply,
whether the code is refused statically, fails at run time, or returns.
Each case runs in-process and, in one batch per policy, through a real
executor, under the default policy, a loosened stdlib allowlist, and the
loosened allowlist with class definitions allowed.

Published techniques behind the cases (see ``source`` of each case):

* n8n CVE-2026-0863 (n8n's own Python runner; "string formatting and
  exception handling"): https://www.smartkeyss.com/post/cve-2026-0863-python-sandbox-escape-in-n8n-via-exception-formatting-and-implicit-code-execution
* str.format attribute walks: https://lucumr.pocoo.org/2016/12/29/careful-with-str-format/
  (Jinja2 CVE-2016-10745), ``format_map`` (Jinja2 CVE-2019-10906,
  https://github.com/zopefoundation/RestrictedPython/pull/258), stored
  format methods (Jinja2 CVE-2024-56326), the unbound ``str.format``
  (https://github.com/pallets/jinja/pull/2205), run-time built templates
  (https://github.com/huggingface/smolagents/pull/2271,
  https://github.com/langflow-ai/langflow/pull/13880).
* ``string.Formatter`` (https://github.com/zopefoundation/RestrictedPython/pull/330,
  https://github.com/zopefoundation/AccessControl/issues/27).
* Shadowing a guard hook through a positional-only parameter
  (RestrictedPython GHSA-ffg3-p8fm-mjx2,
  https://github.com/dimagi/open-chat-studio/pull/4563).
* A ``str`` subclass fooling a name check
  (https://github.com/zopefoundation/RestrictedPython/pull/282).
* Generator frames (https://github.com/danthedeckie/simpleeval/issues/138).
* The confused deputy with transitive imports
  (https://github.com/n8n-io/n8n/pull/33130).
* Dunder hooks of user classes run by the host
  (https://github.com/huggingface/smolagents/issues/2395).
* NFKC-normalised identifiers (https://peps.python.org/pep-0672/).
* n8n's own hardening of its Python runner: ``__import__`` through the
  ``__builtins__`` dict (https://github.com/n8n-io/n8n/pull/20628; ``globals``
  and ``locals``, https://github.com/n8n-io/n8n/pull/20172, are in
  ``test_sandbox_escapes.py``).
* ``warnings.catch_warnings()._module``, the real ``warnings`` module and its
  globals (https://github.com/heymrun/heym/pull/94).
"""

from __future__ import annotations

import gc
import json
import string
from typing import Any

import attrs
import pytest
import trio
from hypothesis import given
from hypothesis import strategies as st
from inprocess import run_in_process

from trio_launcher.runner.code_node.print_capture import PrintCapture
from trio_launcher.runner.executor.task_executor import open_executor
from trio_launcher.runner.sandbox import static_check as sandbox
from trio_launcher.runner.sandbox.policy import DEFAULT_BUILTINS_DENY, SandboxPolicy
from trio_launcher.runner.sandbox.runtime import ModuleViews, import_guard
from trio_launcher.runner.sandbox.safe_format import (
    AccessViolationError,
    SafeFormatter,
    check_template,
    safe_format,
    safe_format_map,
)

ALL = "runOnceForAllItems"
STDLIB = (
    "json,datetime,random,uuid,collections,re,math,string,itertools,functools,traceback,warnings"
)
DENY_WITHOUT_CLASSES = ",".join(
    name for name in DEFAULT_BUILTINS_DENY.split(",") if name != "__build_class__"
)

DEFAULT = SandboxPolicy()
LOOSENED = SandboxPolicy.from_strings(stdlib_allow=STDLIB)
CLASSES = SandboxPolicy.from_strings(stdlib_allow=STDLIB, builtins_deny=DENY_WITHOUT_CLASSES)
DEPUTY = SandboxPolicy.from_strings(
    stdlib_allow=f"{STDLIB},importlib", allow_transitive_imports="true"
)
POLICIES = {"default": DEFAULT, "loosened": LOOSENED, "classes": CLASSES}

#: What no reply may contain: each is only printable by holding the thing.
REAL_OPEN = "<built-in function open>"
REAL_SYS = "<module 'sys'"
REAL_OS = "<module 'os'"
A_FRAME = "<frame at"
A_CELL = "<cell at"
RULES = "ImportRules"
A_CLASS = "<class '"
A_METHOD = "<built-in method"
PASSWD = "root:x:0:0"
OS_NAME = "'posix'"
#: Printed by some cases: only ``print_args`` may hold it, never the result.
PRINTED = "PRINTED-SENTINEL"
EVERY_MARKER = (
    REAL_OPEN, REAL_SYS, REAL_OS, A_FRAME, A_CELL, RULES, A_CLASS, A_METHOD, PASSWD, OS_NAME,
    PRINTED,
)  # fmt: skip


@attrs.frozen
class Escape:
    """One attempt: the code, and whether it needs the process-level measures."""

    code: str
    source: str
    process_only: bool = False
    policies: tuple[str, ...] = ("default", "loosened", "classes")


WALK = '("{0.__cl" + "ass__}")'  # a template no static check can read

ESCAPES = {
    # -- 1. format strings built at run time -------------------------------
    "run-time format walk": Escape(f"return {WALK}.format(1)", "lucumr 2016"),
    "run-time walk from print to real builtins": Escape(
        'return ("{0.__call__.__func__.__glo" + "bals__[__builtins__][open]}").format(print)',
        "lucumr 2016",
    ),
    "run-time walk from a library function to real builtins": Escape(
        'import json\nreturn ("{0.__glo" + "bals__[__builtins__][open]}").format(json.loads)',
        "lucumr 2016",
    ),
    "walk to the import guard's rules": Escape(
        'return ("{0._ru" + "les}").format(__import__)', "route 3"
    ),
    "format_map": Escape(
        'return ("{x.__cl" + "ass__}").format_map({"x": 1})', "CVE-2019-10906, RP#258"
    ),
    "str.format through the class": Escape(f"return str.format({WALK}, 1)", "jinja#2205"),
    "str.format_map through the class": Escape(
        'return str.format_map("{x.__cl" + "ass__}", {"x": 1})', "jinja#2205"
    ),
    "stored and indirect format method": Escape(
        f"f = {WALK}.format\ng = [f][0]\nreturn g(1)", "CVE-2024-56326"
    ),
    "format passed to map": Escape(f"return list(map(str.format, [{WALK}], [1]))", "jinja"),
    "subclasses walk (smolagents, llama_index)": Escape(
        'return ("{0.__class__.__bases__[0].__subcla" + "sses__}").format("a")',
        "smolagents#2271",
    ),
    "generator frame through a format string": Escape(
        'g = (x for x in [1])\nreturn ("{0.gi_fr" + "ame}").format(g)', "simpleeval#138"
    ),
    "closure of print through a format string": Escape(
        'return ("{0.__call__.__clo" + "sure__[0]}").format(print)', "route 3"
    ),
    "print state through a format string": Escape(
        f'print("{PRINTED}")\nreturn ("{{0._ca" + "lls}}").format(print)', "route 3"
    ),
    "string.Formatter": Escape(
        "import string, json\n"
        'return string.Formatter().format("{0.__glo" + "bals__[__builtins__][open]}", json.loads)',
        "RP#330",
    ),
    "the original string.Formatter via mro()": Escape(
        "import string\nfor cls in string.Formatter.mro():\n"
        '    if cls.__name__ == "Formatter":\n'
        f'        return cls().format({WALK}, 1)\nreturn "none"',
        "RP#330",
    ),
    "super().format in a str subclass": Escape(
        f"class S(str):\n    def leak(self):\n        return super().format(1)\n"
        f"return S({WALK}).leak()",
        "route 1",
    ),
    "match keyword pattern reading format": Escape(
        f"s = {WALK}\nmatch s:\n    case str(format=f):\n        return f(1)", "route 1"
    ),
    "augmented assignment reading format": Escape(
        "class Y:\n    def __radd__(self, other):\n        global leak\n        leak = other\n"
        f"        return 1\ns = {WALK}\ntry:\n    s.format += Y()\nexcept Exception:\n"
        "    pass\nreturn leak(1)",
        "route 1",
    ),
    "shadowed format hook (positional-only)": Escape(
        "def f(__n8n_format_attribute__, /):\n"
        f"    return {WALK}.format(1)\nreturn f(lambda obj, name: obj)",
        "GHSA-ffg3-p8fm-mjx2",
    ),
    # -- 2. match class patterns and class hooks ----------------------------
    "__match_args__ in a class body": Escape(
        "class C:\n    __match_args__ = ('__class__',)\nmatch C():\n"
        "    case C(k):\n        return repr(k)\nreturn 'no match'",
        "route 2",
    ),
    "__match_args__ set on a library class": Escape(
        "import collections\nP = collections.namedtuple('P', 'x')\n"
        "P.__match_args__ = ('__class__',)\nmatch P(1):\n"
        "    case P(c):\n        return repr(c)",
        "route 2",
    ),
    "match keyword pattern to globals": Escape(
        "def f():\n    pass\nmatch f:\n    case object(__globals__=g):\n        return g",
        "route 2",
    ),
    "str subclass lying to the import check": Escape(
        "class S(str):\n    def partition(self, sep):\n        return ('json', '', '')\n"
        "    def split(self, sep=None):\n        return ['json']\n"
        "    def __eq__(self, other):\n        return True\n"
        "    __hash__ = str.__hash__\n"
        "f = __import__\nreturn repr(f(S('os')))",
        "RP#282",
    ),
    "class hooks see nothing foreign": Escape(
        "seen = []\nclass M:\n"
        "    def __init_subclass__(cls, **kw):\n        seen.append(repr(kw))\n"
        "    def __class_getitem__(cls, item):\n        seen.append(repr(item))\n"
        "    def __getattr__(self, name):\n        seen.append(name)\n"
        "    def __eq__(self, other):\n        seen.append(repr(other))\n        return False\n"
        "    def __del__(self):\n        seen.append('del')\n"
        "class N(M):\n    pass\nM[1]\nM().missing\nM() == print\n"
        "import json\n[json] == [M()]\nreturn seen",
        "smolagents#2395",
    ),
    # -- 3. state reachable from what user code holds ------------------------
    "import guard state, by attribute": Escape("return __import__._rules", "route 3"),
    "print state, by attribute": Escape(
        f"print('{PRINTED}')\nreturn [print._calls, print._echo]", "route 3"
    ),
    "mutating the import guard's rules": Escape(
        "try:\n    __import__._rules.stdlib.allow_all = True\nexcept Exception:\n    pass\n"
        "f = __import__\nreturn repr(f('o' + 's'))",
        "route 3",
    ),
    "writing attributes on the guards": Escape(
        "for target in (__import__, print):\n    try:\n        target.rules = None\n"
        "    except AttributeError:\n        pass\nimport os\nreturn repr(os)",
        "route 3",
    ),
    "module view internals": Escape(
        "import json\nreturn [json._ModuleView__module, json.__reduce_ex__(4)]", "route 3"
    ),
    "module view dunders through a format string": Escape(
        "import datetime\n"
        'return ("{0.__redu" + "ce_ex__.__self__.__dict__[sys]}").format(datetime)',
        "route 3",
    ),
    "private module state": Escape(
        "import random\nreturn repr(random._os)", "route 3 (existing rule, now generic)"
    ),
    # -- 4. exceptions leading back to real modules --------------------------
    "AttributeError.obj of a module view": Escape(
        "import datetime\ntry:\n    datetime.no_such_name\nexcept AttributeError as e:\n"
        "    return repr(e.obj.sys)",
        "CVE-2026-0863",
    ),
    "AttributeError.obj through a format string": Escape(
        "import datetime\ntry:\n    datetime.no_such_name\nexcept AttributeError as e:\n"
        '    return ("{0.obj.sys}").format(e)',
        "CVE-2026-0863",
    ),
    "import error context chain": Escape(
        "try:\n    import datetime.nope\nexcept ImportError as e:\n"
        "    return repr(e.__context__.obj.sys)",
        "CVE-2026-0863 (exception handling)",
    ),
    "import error context through a format string": Escape(
        "try:\n    import datetime.nope\nexcept ImportError as e:\n"
        '    return ("{0.__cont" + "ext__.obj.sys}").format(e)',
        "CVE-2026-0863 (exception handling)",
    ),
    "traceback frames": Escape(
        "try:\n    1 / 0\nexcept Exception as e:\n    return repr(e.__traceback__.tb_frame)",
        "route 4",
    ),
    "traceback.walk_stack": Escape(
        "import traceback\nreturn [repr(f) for f, _ in traceback.walk_stack(None)]", "route 4"
    ),
    "traceback reads any file (linecache)": Escape(
        "import traceback\nreturn traceback.format_list([('/etc/passwd', 1, 'x', None)])",
        "route 4",
        process_only=True,
    ),
    # -- functools ----------------------------------------------------------
    "update_wrapper merges real globals": Escape(
        "import functools, json\ndef f():\n    pass\n"
        "functools.update_wrapper(f, json.loads, assigned=(), updated=('__globals__',))\n"
        "def g():\n    return open\nreturn repr(g())",
        "functools",
    ),
    "wraps merges real globals": Escape(
        "import functools, json\n"
        "@functools.wraps(json.loads, assigned=(), updated=('__globals__',))\n"
        "def f():\n    pass\ndef g():\n    return open\nreturn repr(g())",
        "functools",
    ),
    "singledispatch evaluates an annotation built at run time": Escape(
        "import functools\n@functools.singledispatch\ndef f(x):\n    pass\n"
        "t = '__imp' + 'ort__(\"os\").name'\ndef g(x: t):\n    pass\n"
        "p = functools.partial(g)\nfunctools.update_wrapper(p, g)\n"
        "functools.update_wrapper(p, len, assigned=(), updated=())\n"
        "try:\n    f.register(p)\nexcept Exception as e:\n    return repr(e)",
        "functools",
    ),
    # -- miscellaneous published ---------------------------------------------
    "NFKC-normalised dunder": Escape("return ().__\uff43lass__", "PEP 672"),
    "__import__ from the builtins dict": Escape(
        'return repr(__builtins__["__import__"]("os").name)', "n8n#20628"
    ),
    "the real builtins module of catch_warnings": Escape(
        "import warnings\nreturn repr(warnings.catch_warnings()._module.__builtins__)", "heym#94"
    ),
    "confused deputy with transitive imports": Escape(
        "import functools, importlib\n"
        "return repr(functools.singledispatch(importlib.import_module)('os'))",
        "n8n#33130",
        policies=("default", "loosened", "deputy"),
    ),
}

ALL_POLICIES = {**POLICIES, "deputy": DEPUTY}


def run(code: str, policy: SandboxPolicy) -> dict[str, Any]:
    return run_in_process({"code": code, "nodeMode": ALL, "items": []}, policy)


def leaks(reply: dict[str, Any]) -> list[str]:
    """The markers in a reply's result or error (print output is the user's own)."""
    text = json.dumps({key: reply.get(key) for key in ("result", "error")}, default=repr)
    return [marker for marker in EVERY_MARKER if marker in text]


def cases(*, in_process: bool) -> list[Any]:
    return [
        pytest.param(escape.code, ALL_POLICIES[policy], id=f"{name}-{policy}")
        for name, escape in ESCAPES.items()
        for policy in escape.policies
        if not (in_process and escape.process_only)
    ]


@pytest.mark.parametrize(("code", "policy"), cases(in_process=True))
def test_escape_reaches_nothing_in_process(code: str, policy: SandboxPolicy) -> None:
    assert leaks(run(code, policy)) == []


@pytest.mark.parametrize("policy_name", ALL_POLICIES)
async def test_escapes_reach_nothing_in_task_processes(policy_name: str) -> None:
    policy = ALL_POLICIES[policy_name]
    with trio.fail_after(120):
        async with open_executor(policy) as executor:
            for name, escape in ESCAPES.items():
                if policy_name not in escape.policies:
                    continue
                outcome = await executor.run(
                    {"code": escape.code, "nodeMode": ALL, "items": []}, timeout=20
                )
                reply = {"result": outcome.result, "error": outcome.error}
                assert leaks(reply) == [], (name, reply)
            still = await executor.run(
                {"code": "return 1", "nodeMode": ALL, "items": []}, timeout=20
            )
            assert still.result == 1


def test_refusals_keep_n8n_error_shapes() -> None:
    static = run('return "{0._rules}".format(__import__)', DEFAULT)["error"]
    assert static["message"] == "Security violations detected"
    assert static["description"] == "Line 1: Format string accesses '_rules', which is disallowed"
    dynamic = run(f"x = 1\nreturn {WALK}.format(1)", DEFAULT)["error"]
    assert dynamic["message"].startswith("Security violation detected")
    assert dynamic["lineNumber"] == 2


def test_a_refused_field_can_be_caught_but_yields_nothing() -> None:
    code = (
        f"try:\n    return {WALK}.format(1)\n"
        "except AttributeError as e:\n    return [str(e), e.args]"
    )
    message, args = run(code, DEFAULT)["result"]
    assert "format string accesses '__class__'" in message
    assert A_CLASS not in json.dumps(args)


# -- legitimate Code-node code keeps working ---------------------------------

ITEMS = [
    {"json": {"v": 1, "s": '{"a": 2}', "_id": "x1", "name": "Ann"}},
    {"json": {"v": 2, "s": "[]", "_id": "x2", "name": "Bob"}},
]

#: (code, policy name, expected result)
LEGIT = {
    "items and comprehensions": (
        "return [{'json': {'sum': sum(i['json']['v'] for i in _items)}}]",
        "default",
        [{"json": {"sum": 3}}],
    ),
    "format strings built at run time": (
        "t = 'Hello {name}: {0} {x[0]} {y.real:>5} {z[_id]}'\n"
        "return t.format(1, name='A', x=[7], y=3, z=_items[0]['json'])",
        "default",
        "Hello A: 1 7     3 x1",
    ),
    "format variants": (
        "t = '{:.2f}|{!r:>6}|{:{}}'\n"
        "return [t.format(1.2345, 'a', 3, '>4'), str.format('{} {}', 1, 2),\n"
        "        '{a}'.format_map({'a': 1}), f\"{_items[0]['json']['name']!r}\",\n"
        "        '%s-%d' % ('a', 2)]",
        "default",
        ["1.23|   'a'|   3", "1 2", "1", "'Ann'", "a-2"],
    ),
    "json and datetime": (
        "import json\nfrom datetime import datetime, timedelta, timezone\n"
        "d = datetime(2024, 1, 2, tzinfo=timezone.utc) + timedelta(days=1)\n"
        "return [json.loads(_items[0]['json']['s']), d.isoformat(), json.__name__]",
        "loosened",
        [{"a": 2}, "2024-01-03T00:00:00+00:00", "json"],
    ),
    "namedtuple's public underscore API": (
        "import collections\nP = collections.namedtuple('P', 'x y')\np = P(1, 2)\n"
        "return [p._asdict(), list(p._replace(x=3)), list(P._fields), list(P._make([4, 5]))]",
        "loosened",
        [{"x": 1, "y": 2}, [3, 2], ["x", "y"], [4, 5]],
    ),
    "string module": (
        "import string\nf = string.Formatter()\n"
        "return [string.Template('$x').substitute(x=1),\n"
        "        f.format('{0.real} {a[k]} {}', 1, a={'k': 2}),\n"
        "        f.vformat('{0}{1}', (1, 2), {}), string.ascii_lowercase[:3]]",
        "loosened",
        ["1", "1 2 1", "12", "abc"],
    ),
    "functools": (
        "import functools\n@functools.lru_cache\ndef f(x):\n    return x * 2\n"
        "def deco(g):\n    @functools.wraps(g)\n    def w(*a):\n        return g(*a)\n"
        "    return w\n"
        "@deco\ndef h(x):\n    'doc'\n    return x\n"
        "@functools.singledispatch\ndef s(x):\n    return 'obj'\n"
        "@s.register\ndef _(x: int):\n    return 'int'\n"
        "@s.register(str)\ndef _(x):\n    return 'str'\n"
        "@s.register\ndef _(x: list | tuple):\n    return 'seq'\n"
        "return [f(2), h.__name__, h.__doc__, s(1), s('a'), s([1]), s(1.0),\n"
        "        functools.reduce(lambda a, b: a + b, [1, 2, 3])]",
        "loosened",
        [4, "h", "doc", "int", "str", "seq", "obj", 6],
    ),
    "traceback of the user's own exception": (
        "import traceback\ntry:\n    1 / 0\nexcept ZeroDivisionError:\n"
        "    return 'ZeroDivisionError' in traceback.format_exc()",
        "loosened",
        True,
    ),
    "re, math, random, uuid, itertools": (
        "import re, math, random, uuid, itertools\nrandom.seed(1)\n"
        "return [re.sub(r'(a)', r'<\\1>', 'ab'), math.floor(2.5), random.choice([1]),\n"
        "        len(uuid.uuid4().hex), list(itertools.chain([1], [2]))]",
        "loosened",
        ["<a>b", 2, 1, 32, [1, 2]],
    ),
    "own classes with private attributes": (
        "class A:\n    def __init__(self, v):\n        self._v = v\n        self.__w = 2 * v\n"
        "    def get(self):\n        return self._v + self.__w\n"
        "    def __repr__(self):\n        return f'A({self._v})'\n"
        "class B(A):\n    def __init__(self):\n        super().__init__(5)\n"
        "return [B().get(), repr(B()), [1].__len__()]",
        "classes",
        [15, "A(5)", 1],
    ),
}


@pytest.mark.parametrize(("code", "policy_name", "expected"), LEGIT.values(), ids=LEGIT.keys())
def test_legitimate_code_keeps_working(code: str, policy_name: str, expected: Any) -> None:
    reply = run_in_process({"code": code, "nodeMode": ALL, "items": ITEMS}, POLICIES[policy_name])
    assert reply.get("result") == expected, reply


async def test_legitimate_code_keeps_working_in_task_processes() -> None:
    with trio.fail_after(60):
        for policy_name, policy in POLICIES.items():
            async with open_executor(policy) as executor:
                for name, (code, wanted_policy, expected) in LEGIT.items():
                    if wanted_policy != policy_name:
                        continue
                    settings = {"code": code, "nodeMode": ALL, "items": ITEMS}
                    outcome = await executor.run(settings, timeout=20)
                    assert outcome.result == expected, (name, outcome.error)


async def test_library_tracebacks_keep_their_source_lines_in_task_processes() -> None:
    code = (
        "import json, traceback\ntry:\n    json.loads('x')\nexcept ValueError:\n"
        "    return traceback.format_exc()"
    )
    with trio.fail_after(30):
        async with open_executor(LOOSENED) as executor:
            outcome = await executor.run({"code": code, "nodeMode": ALL, "items": []}, timeout=20)
    assert isinstance(outcome.result, str)
    assert 'raise JSONDecodeError("Expecting value"' in outcome.result  # json/decoder.py


# -- the static rules ----------------------------------------------------------


def violations(code: str, policy: SandboxPolicy = DEFAULT) -> tuple[str, ...]:
    return sandbox.analyze(code, policy)


@pytest.mark.parametrize(
    "code",
    [
        "x = print._calls",
        "x = __import__._rules",
        "x = obj.__context__",
        "x = obj.__cause__",
        "x = obj.__call__",
        "x = obj.__match_args__",
        "obj.__match_args__ = ()",
        "from json import _default_encoder",
        "match x:\n    case C(_secret=s):\n        pass",
        "x = '{0._secret}'",
        "x = '{0.__call__}'",
        "x = '{0[__builtins__]}'",
    ],
)
def test_private_and_unlisted_dunder_attributes_are_refused(code: str) -> None:
    assert violations(code)


@pytest.mark.parametrize(
    "code",
    [
        "x = [1].__len__() + len(print.__name__) + len(json.__doc__ or '')",
        "x = p._asdict(), p._replace(a=1), P._fields, P._make([])",
        "x = '{0[_id]} {0[json][name]} {0.real}'",
        "_items[0]['json']['_private'] = 1",
        "class A:\n    def m(self):\n        return self._x + self.__y\n"
        "    @classmethod\n    def c(cls):\n        return cls._registry\n"
        "    def n(self):\n        return [lambda: self._z]",
    ],
)
def test_legitimate_attribute_uses_pass(code: str) -> None:
    assert violations(code) == ()


def test_the_own_private_exception_is_only_for_the_method_receiver() -> None:
    code = (
        "class A:\n    def m(self, other):\n        return other._x\n"
        "def f(self):\n    return self._x\n"
        "class B:\n    def m(self):\n        def inner(self):\n            return self._y\n"
        "        return inner\n"
        "class C:\n    def m(self):\n        return self._C__mangled, self.__class__"
    )
    found = violations(code)
    assert [line.split(":")[0] for line in found] == [
        "Line 3", "Line 5", "Line 9", "Line 13", "Line 13",
    ]  # fmt: skip


# -- objects handed to user code hold no state reachable by attribute -------


def reachable_by_attribute(obj: object) -> list[Any]:
    """Every attribute value of *obj* (and of its class) that user code could get."""
    values = []
    for owner in (obj, type(obj)):
        for name in dir(owner):
            try:
                values.append(getattr(owner, name))
            except Exception:
                continue
    return values


def test_the_import_guard_holds_no_rules() -> None:
    rules = LOOSENED.import_rules()
    guard = import_guard(rules)
    assert all(value is not rules for value in reachable_by_attribute(guard))
    assert not hasattr(guard, "__dict__")
    with pytest.raises(AttributeError):
        guard.rules = None
    assert repr(guard) == "<built-in function __import__>"
    # Only its closure leads to the rules (and user code cannot open closures).
    assert rules in gc.get_referents(*[cell.cell_contents for cell in _closure_of(guard)])


def _closure_of(callable_: Any) -> tuple[Any, ...]:
    return tuple(type(callable_).__call__.__closure__ or ())


def test_print_holds_no_record_of_the_calls() -> None:
    capture = PrintCapture()
    capture.function("secret")
    calls = capture.print_args
    assert calls == [["'secret'"]]
    assert all(value != calls for value in reachable_by_attribute(capture.function))
    assert repr(capture.function) == "<built-in function print>"


def test_module_views_hold_no_module_and_refuse_private_names() -> None:
    views = ModuleViews(LOOSENED.import_rules())
    view = views.view_of(json)
    assert all(value is not json for value in reachable_by_attribute(view))
    assert views.view_of(json) is view
    for name in ("_default_encoder", "__dict__", "__reduce_ex__", "__getattr__", "__spec__"):
        with pytest.raises(AccessViolationError):
            getattr(view, name)
    with pytest.raises(AccessViolationError):
        view._secret = 1
    with pytest.raises(AccessViolationError):
        del view.__name__
    assert view.__name__ == "json"
    assert view.loads is json.loads


def test_a_missing_module_attribute_raises_without_the_module() -> None:
    view = ModuleViews(LOOSENED.import_rules()).view_of(json)
    with pytest.raises(AttributeError) as info:
        view.no_such_name  # noqa: B018
    assert info.value.obj is not json
    assert info.value.__context__ is None


def test_import_failures_are_raised_without_their_internal_chain() -> None:
    guard = import_guard(LOOSENED.import_rules())
    with pytest.raises(ImportError) as info:
        guard("json.decoder.nope")
    assert info.value.__context__ is None
    assert info.value.__cause__ is None


def test_the_import_guard_takes_only_exact_strings() -> None:
    class Liar(str):
        def partition(self, sep: str | None = None) -> tuple[str, str, str]:
            return ("json", "", "")

    guard = import_guard(LOOSENED.import_rules())
    with pytest.raises(TypeError):
        guard(Liar("os"))
    with pytest.raises(TypeError):
        guard("json", fromlist=(Liar("x"),))


# -- the guarded formatter -----------------------------------------------------


def test_a_str_subclass_cannot_poison_the_check_cache() -> None:
    class Liar(str):
        def __eq__(self, other: object) -> bool:
            return True

        def __hash__(self) -> int:
            return hash("{0}")

    check_template("{0}")
    with pytest.raises(AccessViolationError):
        safe_format(Liar("{0.__class__}"), 1)


def test_format_map_and_nested_specs_are_checked() -> None:
    with pytest.raises(AccessViolationError):
        safe_format_map("{x.__class__}", {"x": 1})
    with pytest.raises(AccessViolationError):
        safe_format("{0:{1.__class__}}", 1, 2)
    assert safe_format("{0:{1}}", 3, ">3") == "  3"


SAFE_ATTRIBUTES = ("real", "imag", "upper", "title", "bit_length", "denominator")
ARGUMENTS = (7, 2.5, "text", [1, 2, 3], {"k": "v", "0": "zero"})


@st.composite
def field_names(draw: st.DrawFn) -> str:
    first = draw(st.sampled_from(["0", "1", "2", "3", "4", "name"]))
    steps = draw(
        st.lists(
            st.one_of(
                st.sampled_from(SAFE_ATTRIBUTES).map(lambda a: f".{a}"),
                st.sampled_from(["[0]", "[1]", "[k]", "[9]"]),
            ),
            max_size=3,
        )
    )
    return first + "".join(steps)


@st.composite
def templates(draw: st.DrawFn) -> str:
    parts = []
    for _ in range(draw(st.integers(0, 4))):
        parts.append(draw(st.text(alphabet="ab {}:.-", max_size=4)))
        conversion = draw(st.sampled_from(["", "!r", "!s", "!a"]))
        spec = draw(st.sampled_from(["", ":>5", ":^3", ":{1}", ":.2"]))
        parts.append("{" + draw(field_names()) + conversion + spec + "}")
    return "".join(parts)


def outcome_of(function: Any, *args: Any, **kwargs: Any) -> tuple[str, str]:
    try:
        return ("ok", function(*args, **kwargs))
    except Exception as exc:  # same failure, same type
        return ("error", type(exc).__name__)


@given(templates())
def test_guarded_format_matches_str_format_without_underscores(template: str) -> None:
    kwargs = {"name": "n"}
    assert outcome_of(safe_format, template, *ARGUMENTS, **kwargs) == outcome_of(
        template.format, *ARGUMENTS, **kwargs
    )


@given(templates())
def test_safe_formatter_matches_string_formatter(template: str) -> None:
    kwargs = {"name": "n"}
    assert outcome_of(SafeFormatter().format, template, *ARGUMENTS, **kwargs) == outcome_of(
        string.Formatter().format, template, *ARGUMENTS, **kwargs
    )


@given(st.text(alphabet="{}0._a[]:!rx", max_size=12))
def test_guarded_format_refuses_or_matches_on_any_text(template: str) -> None:
    guarded = outcome_of(safe_format, template, 1, [2])
    if guarded != ("error", "AccessViolationError"):
        assert guarded == outcome_of(template.format, 1, [2])
