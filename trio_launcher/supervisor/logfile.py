"""One log file per plugin: timestamped lines, rotated by size, a bounded number kept.

``NAME.log`` is the current file; when a line would take it past
``max_bytes`` it becomes ``NAME.log.1`` (the older ones shift up to
``NAME.log.BACKUPS``, the oldest is deleted) and a new ``NAME.log`` is
started. Files are opened for appending, so logs survive restarts of the
plugin and of the supervisor.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

__all__ = ["RotatingLog", "follow", "format_line", "tail"]

#: How often :func:`follow` looks for new lines when there were none.
FOLLOW_INTERVAL = 0.25

_TAIL_BLOCK = 8192


def format_line(stream: str, line: str, now: datetime | None = None) -> str:
    """``2024-05-01T12:00:00.123Z stdout the line`` (UTC, milliseconds)."""
    stamp = (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]
    return f"{stamp}Z {stream} {line}\n"


class RotatingLog:
    """Appends timestamped lines to ``path``, rotating at ``max_bytes``.

    Writes are unbuffered (one ``write`` per line), so the file is always up
    to date for ``plugins logs``. A single line longer than ``max_bytes`` is
    cut to fit.
    """

    def __init__(self, path: str | os.PathLike[str], max_bytes: int, backups: int) -> None:
        if max_bytes < 1 or backups < 0:
            raise ValueError("max_bytes must be >= 1 and backups >= 0")
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.backups = backups
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "ab", buffering=0)  # noqa: SIM115 (kept open)
        self._size = self._file.tell()

    def write(self, stream: str, line: str) -> None:
        """Append one line from ``stream`` (``stdout``, ``stderr``, ``supervisor``)."""
        data = format_line(stream, line).encode("utf-8", "replace")
        if len(data) > self.max_bytes:
            data = data[: self.max_bytes - 1] + b"\n"
        if self._size and self._size + len(data) > self.max_bytes:
            self._rotate()
        self._file.write(data)
        self._size += len(data)

    def close(self) -> None:
        """Close the file; further writes fail."""
        self._file.close()

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called."""
        return self._file.closed

    def _rotate(self) -> None:
        self._file.close()
        if self.backups:
            for number in range(self.backups - 1, 0, -1):
                older = self._backup(number)
                if older.exists():
                    older.replace(self._backup(number + 1))
            self.path.replace(self._backup(1))
        self._file = open(self.path, "wb", buffering=0)  # noqa: SIM115
        self._size = 0

    def _backup(self, number: int) -> Path:
        return self.path.with_name(f"{self.path.name}.{number}")


def tail(path: str | os.PathLike[str], count: int) -> list[str]:
    """The last ``count`` lines of ``path``, reading on into its backups if it is short."""
    path = Path(path)
    lines = _tail_file(path, count)
    number = 1
    while len(lines) < count:
        backup = path.with_name(f"{path.name}.{number}")
        if not backup.exists():
            break
        lines = _tail_file(backup, count - len(lines)) + lines
        number += 1
    return lines


def _tail_file(path: Path, count: int) -> list[str]:
    if count <= 0:
        return []
    try:
        with open(path, "rb") as file:
            return _last_lines(file, file.seek(0, os.SEEK_END), count)
    except FileNotFoundError:
        return []


def _last_lines(file: BinaryIO, end: int, count: int) -> list[str]:
    """The last ``count`` lines of ``file`` before offset ``end``."""
    if count <= 0:
        return []
    position, data = end, b""
    while position > 0 and data.count(b"\n") <= count:
        step = min(_TAIL_BLOCK, position)
        position -= step
        file.seek(position)
        data = file.read(step) + data
    file.seek(end)
    return data.decode("utf-8", "replace").splitlines()[-count:]


def follow(
    path: str | os.PathLike[str], count: int, interval: float = FOLLOW_INTERVAL
) -> Iterator[str]:
    """The last ``count`` lines of ``path``, then each line added to it, for ever (``tail -F``).

    When the file is rotated (a new file at ``path``), the rest of the old one
    is read, then the new one from its start; a file rotated away and out
    again between two looks (``interval`` apart) is not seen. A missing file
    is waited for.
    """
    path = Path(path)
    file = _open_when_there(path, interval)
    try:
        yield from _last_lines(file, file.seek(0, os.SEEK_END), count)
        pending = b""
        while True:
            replaced = _replaced(path, file)  # before reading: what came before is read too
            data = file.read()
            if data:
                *lines, pending = (pending + data).split(b"\n")
                yield from (line.decode("utf-8", "replace") for line in lines)
            elif replaced:
                file.close()
                file = _open_when_there(path, interval)
            else:
                time.sleep(interval)
    finally:
        file.close()


def _open_when_there(path: Path, interval: float) -> BinaryIO:
    while True:
        try:
            return open(path, "rb")
        except FileNotFoundError:
            time.sleep(interval)


def _replaced(path: Path, file: BinaryIO) -> bool:
    try:
        return os.stat(path).st_ino != os.fstat(file.fileno()).st_ino
    except FileNotFoundError:
        return False
