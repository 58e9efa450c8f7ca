"""The shipped runtimes' commands, and module sources in each language, for the tests."""

from __future__ import annotations

import shutil
import textwrap

import attrs
import pytest
from runtime_helpers import NODE_24, NODE_RUNTIME_SCRIPT, PYTHON_RUNTIME


@attrs.frozen(kw_only=True)
class Language:
    """A runtime's command, and module sources in its language that the tests load."""

    runtime: str
    command: list[str]
    echo: str
    raises: str
    counter: str
    broken: str  # does not compile, at line 2
    empty: str  # defines no handle
    fails: str  # raises at line 2 when loaded
    raised: str  # the error message of ``raises``
    failed: str  # the error message of ``fails``


PYTHON_SOURCES = {
    "echo": """\
        def handle(message, context, send):
            send("out", message)
            send("count", len(message))
        """,
    "raises": """\
        def handle(message, context, send):
            if message == "bad":
                raise ValueError("no " + message)
            send("out", message)
        """,
    "counter": """\
        def handle(message, context, send):
            context["count"] = context.get("count", 0) + 1
            send("out", context["count"])
        """,
    "broken": "x = 1\ndef handle(message, context, send)\n    pass\n",
    "empty": "x = 1\n",
    "fails": "x = 1\nraise RuntimeError('at import')\n",
}
NODE_SOURCES = {
    "echo": """\
        function handle(message, context, send) {
          send("out", message);
          send("count", message.length);
        }
        """,
    "raises": """\
        function handle(message, context, send) {
          if (message === "bad") {
            throw new Error("no " + message);
          }
          send("out", message);
        }
        """,
    "counter": """\
        function handle(message, context, send) {
          context.count = (context.count ?? 0) + 1;
          send("out", context.count);
        }
        """,
    "broken": "let x = 1;\nfunction handle(message, context, send) )\n",
    "empty": "let x = 1;\n",
    "fails": "let x = 1;\nthrow new Error('at import');\n",
}


def _language(runtime: str, command: list[str], **messages: str) -> Language:
    sources = PYTHON_SOURCES if runtime == "python" else NODE_SOURCES
    texts = {name: textwrap.dedent(source) for name, source in sources.items()}
    return Language(runtime=runtime, command=command, **texts, **messages)


def _node_param(node: str | None, param_id: str, missing: str) -> object:
    if node is None:
        return pytest.param(None, id=param_id, marks=pytest.mark.skip(reason=missing))
    command = [node, NODE_RUNTIME_SCRIPT]
    language = _language("node", command, raised="Error: no bad", failed="Error: at import")
    return pytest.param(language, id=param_id)


LANGUAGES = [
    pytest.param(
        _language(
            "python",
            PYTHON_RUNTIME,
            raised="ValueError: no bad",
            failed="RuntimeError: at import",
        ),
        id="python",
    ),
    _node_param(shutil.which("node"), "node", "node is not on PATH"),
    _node_param(str(NODE_24) if NODE_24.exists() else None, "node24", f"no Node 24 at {NODE_24}"),
]


def in_language(language: Language, sources: dict[str, str]) -> str:
    """The source of ``sources`` (by runtime: ``python``, ``node``) in ``language``."""
    return textwrap.dedent(sources[language.runtime])
