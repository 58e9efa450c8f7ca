"""The control API: JSON lines over a unix socket that only its owner may use.

Each request is one JSON object on one line, ``{"cmd": ..., ...}``; each
answer is one line ``{"ok": true, ...}`` or ``{"ok": false, "error": ...}``.
Commands:

- ``ls``: ``{"plugins": [status, ...]}``
- ``start`` / ``stop`` / ``restart`` with ``"name"`` (or ``"all"``):
  ``{"plugins": [status after the command, ...]}``
- ``logs`` with ``"name"`` and optional ``"lines"`` (default 50):
  ``{"file": path, "lines": [...]}``
- ``rescan``: look at the plugin folders now; ``{"plugins": [...]}``
- ``events``: ``{"plugins": [...]}`` (a snapshot), then one line per event,
  ``{"event": kind, "name": ..., ...}``, until the client disconnects. A
  client that reads too slowly gets ``{"event": "dropped", ...}`` and is
  disconnected.

The socket file is created with mode 0600, and connections from another user
(other than root) are refused using the peer's credentials.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import socket as stdlib_socket
import stat
import struct
from functools import partial
from pathlib import Path
from typing import Any, Protocol

import trio

from ..transport import jsonlimit
from ..transport.boundary import log_unexpected
from .events import Subscription
from .plugin import PluginError
from .status import PluginStatus

__all__ = ["MAX_LINE", "ControlListener", "SupervisorCommands", "open_control_listener"]

logger = logging.getLogger("trio_launcher.supervisor")

#: Longest request line accepted.
MAX_LINE = 65536
#: Events a control client may lag behind before it is disconnected.
EVENTS_BUFFER = 1000


class SupervisorCommands(Protocol):
    """What the control socket asks of the supervisor; :class:`~.supervisor.Supervisor` has it."""

    def status(self) -> list[PluginStatus]:
        """Every plugin's status, by name."""

    def rescan(self) -> None:
        """Look at the plugin folders now."""

    async def start(self, name: str) -> PluginStatus:
        """Start one plugin (its dependencies first)."""

    async def stop(self, name: str) -> PluginStatus:
        """Stop one plugin."""

    async def restart(self, name: str) -> PluginStatus:
        """Stop one plugin if it runs, then start it."""

    async def start_all(self) -> list[PluginStatus]:
        """Start every plugin."""

    async def stop_all(self) -> list[PluginStatus]:
        """Stop every plugin, last started first."""

    async def restart_all(self) -> list[PluginStatus]:
        """Stop everything, then start what should run."""

    def log_file(self, name: str) -> Path | None:
        """The plugin's log file, if it logs to one."""

    def tail_log(self, name: str, lines: int) -> list[str]:
        """The last lines of the plugin's log."""

    def events(self, buffer: int) -> Subscription:
        """A subscription to the supervisor's events."""


class ControlListener:
    """A listening control socket (see :func:`open_control_listener`)."""

    def __init__(self, path: Path, listener: trio.SocketListener, inode: int) -> None:
        self.path = path
        self._listener = listener
        self._inode = inode

    async def serve(self, supervisor: SupervisorCommands) -> None:
        """Answer clients until cancelled; then close and remove the socket."""
        logger.info("control socket listening at %s", self.path)
        try:
            await trio.serve_listeners(partial(_serve_client, supervisor), [self._listener])
        finally:
            self.close()

    def close(self) -> None:
        """Stop listening and remove the socket file (if it is still ours)."""
        self._listener.socket.close()
        try:
            if os.stat(self.path).st_ino == self._inode:
                self.path.unlink()
        except FileNotFoundError:
            pass


async def open_control_listener(path: Path) -> ControlListener:
    """Listen on unix socket ``path`` (mode 0600), replacing a stale socket file.

    Raises:
        OSError: the socket cannot be created, or another process listens on it.
    """
    listener, inode = await _listen(path)
    return ControlListener(path, listener, inode)


async def _listen(path: Path) -> tuple[trio.SocketListener, int]:
    path.parent.mkdir(parents=True, exist_ok=True)
    await _remove_stale(path)
    sock = trio.socket.socket(stdlib_socket.AF_UNIX, stdlib_socket.SOCK_STREAM)
    old_umask = os.umask(0o177)
    try:
        await sock.bind(os.fspath(path))
    except OSError as exc:
        sock.close()
        raise OSError(exc.errno, f"cannot listen on {path}: {exc.strerror or exc}") from None
    finally:
        os.umask(old_umask)
    os.chmod(path, 0o600)
    sock.listen(64)
    return trio.SocketListener(sock), os.stat(path).st_ino


async def _remove_stale(path: Path) -> None:
    """Remove a socket left by a supervisor that died; refuse to steal a live one."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise OSError(errno.EEXIST, f"{path} exists and is not a socket")
    probe = trio.socket.socket(stdlib_socket.AF_UNIX, stdlib_socket.SOCK_STREAM)
    with probe:
        try:
            await probe.connect(os.fspath(path))
        except (ConnectionRefusedError, FileNotFoundError):
            os.unlink(path)
            return
    raise OSError(errno.EADDRINUSE, f"another supervisor is listening on {path}")


def _peer_allowed(stream: trio.abc.Stream) -> bool:
    if not isinstance(stream, trio.SocketStream):
        return True
    size = struct.calcsize("3i")
    try:
        data = stream.socket.getsockopt(stdlib_socket.SOL_SOCKET, stdlib_socket.SO_PEERCRED, size)
    except OSError:
        return True  # no SO_PEERCRED: the 0600 socket mode still applies
    _pid, uid, _gid = struct.unpack("3i", data)
    return uid in (0, os.getuid())


_INTERNAL_ERROR = "internal error in the supervisor (see its log); the connection is closed"


class _LineTooLong(ValueError):
    """A request line longer than :data:`MAX_LINE`."""


class _Connection:
    """Reads request lines from and writes JSON lines to one client."""

    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        self._buffer = bytearray()

    async def receive_line(self) -> bytes | None:
        """The next line without its newline; None at EOF. Raises _LineTooLong."""
        while (end := self._buffer.find(b"\n")) < 0:
            if len(self._buffer) > MAX_LINE:
                raise _LineTooLong(f"the request line is longer than {MAX_LINE} bytes")
            data = await self.stream.receive_some(MAX_LINE)
            if not data:
                return None
            self._buffer += data
        line = bytes(self._buffer[:end])
        del self._buffer[: end + 1]
        return line

    async def send(self, message: dict[str, Any]) -> None:
        await self.stream.send_all(json.dumps(message).encode() + b"\n")


async def _serve_client(supervisor: SupervisorCommands, stream: trio.abc.Stream) -> None:
    """Serve one client; whatever goes wrong with it never reaches the supervisor.

    An error nobody expected is logged (without its message) and told to the
    client, whose connection is then closed.
    """
    connection = _Connection(stream)
    async with stream:
        try:
            await _converse(supervisor, connection)
        except* (trio.BrokenResourceError, trio.ClosedResourceError):
            pass  # the client went away
        except* _LineTooLong as group:
            await _send_last_error(connection, str(group.exceptions[0]))
        except* Exception as group:
            log_unexpected(logger, "a control client's request", group)
            await _send_last_error(connection, _INTERNAL_ERROR)


async def _send_last_error(connection: _Connection, error: str) -> None:
    """Tell the client why its connection is closed, if it still listens."""
    with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
        await connection.send({"ok": False, "error": error})


async def _converse(supervisor: SupervisorCommands, connection: _Connection) -> None:
    if not _peer_allowed(connection.stream):
        await connection.send({"ok": False, "error": "permission denied"})
        return
    while (line := await connection.receive_line()) is not None:
        request = _parse(line)
        if isinstance(request, dict) and request.get("cmd") == "events":
            await _stream_events(supervisor, connection)
            return
        await connection.send(await _answer(supervisor, request))


def _parse(line: bytes) -> dict[str, Any] | str:
    """The request, or an error message."""
    try:
        request = jsonlimit.loads(line)
    except jsonlimit.TooDeep:
        return f"the request nests deeper than {jsonlimit.MAX_DEPTH} levels"
    except ValueError:
        return "the request is not JSON"
    if not isinstance(request, dict) or not isinstance(request.get("cmd"), str):
        return 'expected {"cmd": ...}'
    return request


async def _answer(supervisor: SupervisorCommands, request: dict[str, Any] | str) -> dict[str, Any]:
    if isinstance(request, str):
        return {"ok": False, "error": request}
    try:
        return {"ok": True, **await _run_command(supervisor, request)}
    except PluginError as exc:
        return {"ok": False, "error": str(exc)}


async def _run_command(supervisor: SupervisorCommands, request: dict[str, Any]) -> dict[str, Any]:
    command = request["cmd"]
    if command in ("ls", "status"):
        return _plugins(supervisor.status())
    if command == "rescan":
        supervisor.rescan()
        return _plugins(supervisor.status())
    if command not in ("start", "stop", "restart", "logs"):
        raise PluginError(f"unknown command {command!r}")
    name = request.get("name")
    if not isinstance(name, str):
        raise PluginError(f'{command!r} needs "name"')
    if command in ("start", "stop", "restart"):
        if name == "all":
            everything = {
                "start": supervisor.start_all,
                "stop": supervisor.stop_all,
                "restart": supervisor.restart_all,
            }[command]
            return _plugins(await everything())
        one = {"start": supervisor.start, "stop": supervisor.stop, "restart": supervisor.restart}
        return _plugins([await one[command](name)])
    count = request.get("lines", 50)  # logs
    if not isinstance(count, int) or count < 0:
        raise PluginError('"lines" must be a whole number')
    path = supervisor.log_file(name)
    return {
        "file": None if path is None else str(path),
        "lines": supervisor.tail_log(name, count),
    }


def _plugins(statuses: list[PluginStatus]) -> dict[str, Any]:
    return {"plugins": [status.to_json() for status in statuses]}


async def _stream_events(supervisor: SupervisorCommands, connection: _Connection) -> None:
    with supervisor.events(EVENTS_BUFFER) as events:
        await connection.send({"ok": True, **_plugins(supervisor.status())})
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_cancel_at_eof, connection, nursery.cancel_scope)
            async for event in events:
                await connection.send(event.to_json())
            if events.dropped:
                message = "this client fell too far behind and was disconnected"
                await connection.send({"event": "dropped", "error": message})
            nursery.cancel_scope.cancel()


async def _cancel_at_eof(connection: _Connection, scope: trio.CancelScope) -> None:
    """Whatever the client sends now is ignored; its EOF ends the event stream."""
    try:
        while await connection.stream.receive_some(MAX_LINE):
            pass
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass
    scope.cancel()
