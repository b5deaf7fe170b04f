"""Find the line of a key in TOML text, so errors can name it (tomllib keeps no positions).

Handles what box configs use: `[table]`, `[[array.of.tables]]`, `key = value`, and
dotted keys under a table. Good enough to point a technician at the right line; when a
key cannot be found the caller falls back to the line of its table.
"""

from __future__ import annotations

import re

_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_NAME = r"""(?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*')"""
_KEY = re.compile(rf"^\s*({_NAME}(?:\s*\.\s*{_NAME})*)\s*=")


def _split_dotted(text: str) -> tuple[str, ...]:
    parts = re.findall(r"""[A-Za-z0-9_-]+|"[^"]*"|'[^']*'""", text)
    return tuple(p.strip("\"'") for p in parts)


def locate(text: str, path: tuple[str | int, ...]) -> int | None:
    """1-based line of PATH (table names, array indexes, key) in TEXT, or None."""
    table: tuple[str | int, ...] = ()
    counters: dict[tuple[str, ...], int] = {}
    best: int | None = None
    for lineno, line in enumerate(text.splitlines(), start=1):
        header = _HEADER.match(line)
        if header and not _KEY.match(line):
            names = _split_dotted(header.group(2))
            if header.group(1) == "[[":
                index = counters.get(names, -1) + 1
                counters[names] = index
                table = (*names, index)
            else:
                table = _with_indexes(names, counters)
            if path[: len(table)] == table and best is None:
                best = lineno
            if table == path:
                return lineno
            continue
        key = _KEY.match(line)
        if key:
            full = (*table, *_split_dotted(key.group(1)))
            if full == path or path[: len(full)] == full:
                return lineno
    return best


def _with_indexes(names: tuple[str, ...], counters: dict[tuple[str, ...], int]) -> tuple:
    """`[a.b]` after `[[a]]` means the latest element of a: insert its index."""
    out: list[str | int] = []
    for i, name in enumerate(names):
        out.append(name)
        prefix = names[: i + 1]
        if prefix in counters and i + 1 < len(names):
            out.append(counters[prefix])
    return tuple(out)
