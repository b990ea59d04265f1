"""Line differences between two texts (two versions of a prompt template) as a unified diff to show.

:mod:`tradelane.store.diff` compares executions field by field; a template is one text, whose
change a reader follows line by line, so this is the unified diff of :mod:`difflib`, each line
tagged with its kind so the page can mark added and removed lines.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Final, Literal

LineKind = Literal["header", "hunk", "added", "removed", "context"]
CONTEXT_LINES: Final = 3
"""Unchanged lines shown around each change."""


@dataclass(frozen=True)
class DiffLine:
    """One line of a unified diff: its kind and its text (with the ``+``, ``-`` or space it starts with)."""

    kind: LineKind
    text: str


HEADER_LINES: Final = 2
"""The ``---`` and ``+++`` lines that name the two texts (a removed line may start with ``---`` too)."""


def _kind(line: str) -> LineKind:
    if line.startswith("@@"):
        return "hunk"
    if line.startswith("+"):
        return "added"
    if line.startswith("-"):
        return "removed"
    return "context"


def unified(before: str, after: str, *, before_name: str, after_name: str) -> list[DiffLine]:
    """The unified diff from ``before`` to ``after``; empty when the texts are the same."""
    lines = difflib.unified_diff(
        before.splitlines(),
        after.splitlines(),
        fromfile=before_name,
        tofile=after_name,
        n=CONTEXT_LINES,
        lineterm="",
    )
    return [DiffLine("header" if index < HEADER_LINES else _kind(line), line) for index, line in enumerate(lines)]
