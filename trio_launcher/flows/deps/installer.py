"""Running one installer command (pip, uv, npm) as a child.

The installer runs through :func:`~trio_launcher.process.run_child`: its own
process group, stopped if the call is cancelled (a timeout, say), and
with the runner if the runner dies. It gets an environment of its own: what an
installer needs from the runner's (``PATH``, ``HOME``, locale, proxies, TLS
certificates and the installers' own settings, so a configured index or mirror
is honoured) and what the configuration adds; never the rest, which may hold
secrets.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Mapping, Sequence

from ...process import SpawnError, run_child
from ..errors import FlowRunnerError

__all__ = ["InstallerFailed", "installer_environment", "run_installer"]

#: Variables passed on from the runner's environment.
_PASSED = frozenset({"PATH", "HOME", "LANG", "LANGUAGE", "TMPDIR", "TZ", "USER", "LOGNAME"})
_PASSED |= {"SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "NODE_EXTRA_CA_CERTS"}
_PASSED |= {"http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY"}
#: ... and those starting so: the installers' own settings, locale, XDG directories.
_PASSED_PREFIXES = ("PIP_", "UV_", "NPM_CONFIG_", "npm_config_", "LC_", "XDG_")
#: Lines of an installer's output kept to explain its failure.
_KEPT_LINES = 40
#: Lines that carry an installer's own error, when there are some.
_ERROR_PREFIXES = ("ERROR:", "error:", "npm error", "npm ERR!", "\u00d7", "\u2570")


class InstallerFailed(FlowRunnerError):
    """An installer command failed or ran too long; the message holds its own error."""


def installer_environment(extra: Mapping[str, str] = {}) -> dict[str, str]:
    """The environment an installer runs with: the runner's safe part and ``extra``."""
    passed = {
        key: value
        for key, value in os.environ.items()
        if key in _PASSED or key.startswith(_PASSED_PREFIXES)
    }
    return {**passed, **extra}


async def run_installer(
    command: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: str | os.PathLike[str] | None = None,
    on_line: Callable[[str], None] | None = None,
) -> None:
    """Run ``command`` to its end; each line it prints goes to ``on_line``.

    Cancelled (a timeout, say), it is stopped: TERM, then KILL after 2 s.

    Raises:
        InstallerFailed: it could not start or exited with an error; the message
            is its own error.
    """
    kept: deque[str] = deque(maxlen=_KEPT_LINES)

    def output(_stream: str, line: str) -> None:
        kept.append(line)
        if on_line is not None:
            on_line(line)

    name = os.path.basename(command[0])
    try:
        status = await run_child(command, env=env, cwd=cwd, on_output=output, grace_period=2)
    except SpawnError as exc:
        raise InstallerFailed(str(exc)) from None
    if not status.ok:
        raise InstallerFailed(f"{name} failed ({status}): {installer_error(kept)}")


def installer_error(lines: Sequence[str] | deque[str]) -> str:
    """What an installer said was wrong: its error lines, or the end of its output."""
    errors = [line.strip() for line in lines if line.lstrip().startswith(_ERROR_PREFIXES)]
    chosen = errors or [line.strip() for line in list(lines)[-5:]]
    return " / ".join(chosen) or "it printed nothing"
