"""The runner table: every open runner connection, by connection and by runner id."""

from __future__ import annotations

from ..errors import LocalProtocolError
from .records import Runner
from .states import RUNNER_TRANSITIONS, RunnerState

__all__ = ["RunnerTable"]


class RunnerTable:
    """Open runner connections; :meth:`advance` is the one place a connection changes state."""

    def __init__(self) -> None:
        #: Every open connection, registered or not, by the server's connection number.
        self.by_connection: dict[int, Runner] = {}
        self._by_runner_id: dict[str, dict[int, Runner]] = {}

    def open(self, connection: int, runner_id: str) -> Runner:
        """A new connection; one already open under ``connection`` is a local bug."""
        if connection in self.by_connection:
            raise LocalProtocolError(f"runner connection {connection} is already open")
        runner = self.by_connection[connection] = Runner(connection, runner_id)
        self._by_runner_id.setdefault(runner_id, {})[connection] = runner
        return runner

    def advance(self, runner: Runner, trigger: str) -> None:
        """Change the connection's state by ``trigger``; one that ends is forgotten."""
        runner.state = RUNNER_TRANSITIONS.advance(runner.state, trigger)
        if runner.state is RunnerState.GONE:
            del self.by_connection[runner.connection]
            same_id = self._by_runner_id[runner.runner_id]
            del same_id[runner.connection]
            if not same_id:
                del self._by_runner_id[runner.runner_id]

    def others_with_id(self, runner: Runner) -> list[Runner]:
        """The other open connections under ``runner``'s runner id."""
        same_id = self._by_runner_id[runner.runner_id]
        return [other for other in same_id.values() if other is not runner]

    def registered(self) -> int:
        """Connections that sent ``runner:info`` and have not ended."""
        return sum(r.state is not RunnerState.CONNECTED for r in self.by_connection.values())
