"""Split a byte stream into text lines, sans-IO."""

from __future__ import annotations

import codecs

#: Lines longer than this many characters are delivered in pieces.
MAX_LINE_LENGTH = 65536


class LineSplitter:
    """Incremental UTF-8 line splitter.

    Invalid bytes become U+FFFD. Line endings (``\\n`` or ``\\r\\n``) are
    stripped, blank lines are dropped and lines longer than
    :data:`MAX_LINE_LENGTH` characters are cut into pieces, so memory use is
    bounded whatever the input.
    """

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._partial = ""

    def feed(self, data: bytes) -> list[str]:
        """Return the lines completed by ``data``."""
        lines = (self._partial + self._decoder.decode(data)).split("\n")
        self._partial = lines.pop()
        pieces = [piece for line in lines for piece in _chop(line)]
        while len(self._partial) >= MAX_LINE_LENGTH:
            pieces.append(self._partial[:MAX_LINE_LENGTH])
            self._partial = self._partial[MAX_LINE_LENGTH:]
        return _non_blank(pieces)

    def finish(self) -> list[str]:
        """Return the unterminated last line, if any (call at EOF)."""
        rest = self._partial + self._decoder.decode(b"", final=True)
        self._partial = ""
        return _non_blank(_chop(rest))


def _chop(line: str) -> list[str]:
    return [line[i : i + MAX_LINE_LENGTH] for i in range(0, len(line), MAX_LINE_LENGTH)]


def _non_blank(lines: list[str]) -> list[str]:
    stripped = (line.removesuffix("\r") for line in lines)
    return [line for line in stripped if line.strip()]
