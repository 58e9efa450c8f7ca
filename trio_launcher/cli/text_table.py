"""A table of text, its columns aligned, as the client commands print them."""

from __future__ import annotations

__all__ = ["table"]


def table(rows: list[list[str]]) -> str:
    """``rows`` (the first: the headings) as lines whose columns line up."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )
