"""What is wrong with a configuration: one error for every source of settings.

Environment variables, the launcher's JSON file and the supervisor's
``launcher.yaml`` all report through :class:`ConfigError`. It holds every
problem found, each a :class:`ConfigIssue` (a message, and where it is: file,
line and key, each optional), so that a user sees every bad setting at once.
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs

__all__ = ["ConfigError", "ConfigIssue"]


@attrs.frozen(kw_only=True)
class ConfigIssue:
    """One problem in a configuration, rendered as ``file:line: key: message``.

    ``key`` is the setting at fault as the user names it: a variable
    (``N8N_RUNNERS_MAX_CONCURRENCY``), a dotted YAML key (``plugins.web.command``)
    or a JSON entry and key (``task-runners[0]: command``). Parts that are not
    known are left out of the rendering.
    """

    message: str
    file: str | None = None
    line: int | None = None
    key: str = ""
    #: 1-based column, to sort issues on one line in file order.
    column: int | None = attrs.field(default=None, eq=False, repr=False)

    def __str__(self) -> str:
        parts = []
        if self.file is not None:
            parts.append(self.file if self.line is None else f"{self.file}:{self.line}")
        if self.key:
            parts.append(self.key)
        parts.append(self.message)
        return ": ".join(parts)


class ConfigError(ValueError):
    """The configuration cannot be used; :attr:`issues` lists every problem found.

    A plain string stands for an issue that is only a message. ``source`` says
    where the settings came from (``"environment"``, a file name) and heads the
    message, one issue a line below it; with ``source=None`` the message is the
    issues alone, one a line (each then names its file).
    """

    def __init__(
        self, issues: Iterable[ConfigIssue | str], *, source: str | None = "environment"
    ) -> None:
        self.issues = tuple(
            issue if isinstance(issue, ConfigIssue) else ConfigIssue(message=issue)
            for issue in issues
        )
        self.source = source
        super().__init__(self._render())

    @property
    def problems(self) -> list[str]:
        """Every issue as one line of text."""
        return [str(issue) for issue in self.issues]

    def _render(self) -> str:
        if self.source is None:
            return "\n".join(self.problems)
        lines = "\n".join(f"  - {problem}" for problem in self.problems)
        return f"invalid configuration ({self.source}):\n{lines}"
