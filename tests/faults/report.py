"""The fault table: one row per case, printed at the end of the run and written to a file.

The file is ``faults.md`` in the run's temporary directory, so a test run leaves the working
tree as it found it; ``TRADELANE_FAULT_TABLE=bench/results/faults.md`` writes the committed
table instead (or any other path).
"""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

TABLE_ENV = "TRADELANE_FAULT_TABLE"
"""The path to write the table to, when set."""


def table_path(temporary: Path) -> Path:
    """Where the table goes: ``TRADELANE_FAULT_TABLE`` when set, else ``faults.md`` in ``temporary``."""
    asked = os.environ.get(TABLE_ENV)
    return Path(asked) if asked else temporary / "faults.md"


COLUMNS = (
    "fault",
    "executions",
    "final",
    "failed",
    "lost",
    "duplicated",
    "dead-lettered",
    "refused",
    "unserved",
    "recovery s",
    "case s",
)


@dataclass(frozen=True)
class FaultRow:
    """What one case measured."""

    fault: str
    executions: int
    """Runs accepted (202) during the burst."""
    final: int
    """Of those, how many ended (completed, rejected or failed)."""
    failed: int
    """Of those, how many ended as failed."""
    lost: int
    """Accepted but never final (or unknown to the lineage)."""
    duplicated: int | None
    """None: could not be counted (PostgreSQL down when the case ended)."""
    dead_lettered: int | None
    """None: could not be counted (the gateway or PostgreSQL down when the case ended)."""
    refused: int
    """Run requests turned away (503, another 5xx, or no answer) while the fault lasted; each was asked again."""
    unserved: int
    """Runs of the burst never accepted: the system did not serve again within the deadline."""
    recovery_seconds: float | None
    """Fault injected -> the first execution accepted after it has ended; None: none ended."""
    case_seconds: float

    def cells(self) -> list[str]:
        recovery = "-" if self.recovery_seconds is None else f"{self.recovery_seconds:.1f}"
        return [
            self.fault,
            str(self.executions),
            str(self.final),
            str(self.failed),
            str(self.lost),
            _count(self.duplicated),
            _count(self.dead_lettered),
            str(self.refused),
            str(self.unserved),
            recovery,
            f"{self.case_seconds:.0f}",
        ]


def _count(value: int | None) -> str:
    return "?" if value is None else str(value)


@dataclass
class FaultTable:
    rows: list[FaultRow] = field(default_factory=list)

    def add(self, row: FaultRow) -> None:
        self.rows.append(row)

    def markdown(self) -> str:
        lines = [
            "| " + " | ".join(COLUMNS) + " |",
            "|" + "|".join("---" if index == 0 else "---:" for index, _ in enumerate(COLUMNS)) + "|",
            *("| " + " | ".join(row.cells()) + " |" for row in self.rows),
        ]
        return "\n".join(lines)

    def write(self, path: Path) -> Path:
        """Write the table with what it measured and on what machine."""
        measured = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        text = "\n".join(
            [
                "# Fault suite (`pytest -m faults`)",
                "",
                f"Measured {measured} on {platform.platform()}, Python {platform.python_version()}. "
                "Each case runs a burst of run requests against `tradelane up` (embedded NATS and PostgreSQL), "
                "injects its fault after the 25th accepted run, requests the rest while it lasts, then waits "
                "for every accepted execution to end.",
                "",
                "- executions: runs accepted (202); a 503 (or another 5xx) or no answer is not an acceptance: "
                "it is counted under refused and the run is requested again",
                "- unserved: runs still not accepted after 90 s of asking (the system did not serve again); "
                "the burst stops there",
                "- final: ended as completed, rejected or failed; failed: of those, ended as failed",
                "- lost: accepted but not final within the wait, or unknown to the lineage",
                "- duplicated: a step, signal or entry order recorded more than once for one execution",
                "- dead-lettered: an execution with a message in the DEADLETTER stream or a dead_letter step",
                "- ?: could not be counted (PostgreSQL or the gateway still down when the case ended)",
                "- recovery s: from the fault's injection to the end of the first execution accepted after it",
                "",
                self.markdown(),
                "",
            ]
        )
        path.write_text(text, encoding="utf-8")
        return path
