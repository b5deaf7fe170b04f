"""Plain-text tables for the box's command-line tools (blacklist, the supervisors' wallboard)."""

from __future__ import annotations

import getpass
import unicodedata


def display_width(text: str) -> int:
    """Terminal cells TEXT takes: a Chinese character (wide or full-width) takes two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def table(headers: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    """Columns padded by display width, a rule under the headers."""
    widths = [max(display_width(row[i]) for row in (headers, *rows)) for i in range(len(headers))]

    def line(cells: tuple[str, ...]) -> str:
        padded = (c + " " * (w - display_width(c)) for c, w in zip(cells, widths, strict=True))
        return "  ".join(padded).rstrip()

    return "\n".join([line(headers), "  ".join("-" * w for w in widths), *(line(r) for r in rows)])


def login_name() -> str:
    """Who runs the command (the default for --by)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (a container): the field is still required
        return "unknown"
