"""Prompt renders on this machine: the built-in analysis template with the sample context, one at a time.

Times ``--renders`` renders (50 unless told) through :func:`tradelane.prompts.rendering.render`,
as the llm-analyst calls it, and prints the wall time and the CPU time of this process and of
every process under it, live or exited (the render processes, and whatever starts them).
The first render is counted: it pays for anything started on first use.

Run with ``python -m bench.renders``; it writes no results file.
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from pathlib import Path

from bench.common import machine
from tradelane.prompts.context import sample_context
from tradelane.prompts.defaults import default_template
from tradelane.prompts.rendering import render

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds() -> float:
    """CPU of this process, of its exited children, and of every live process under it with its exited children."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    exited = resource.getrusage(resource.RUSAGE_CHILDREN)
    total = own.ru_utime + own.ru_stime + exited.ru_utime + exited.ru_stime
    return total + sum(_live_descendants_cpu(os.getpid()).values())


def _live_descendants_cpu(root: int) -> dict[int, float]:
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # exited meanwhile
        pid = int(entry.name)
        parents[pid] = int(fields[1])
        times[pid] = sum(int(field) for field in fields[11:15]) / CLOCK_TICKS  # utime stime cutime cstime
    tree = {root}
    grown = True
    while grown:
        below = {pid for pid, parent in parents.items() if parent in tree} - tree
        grown = bool(below)
        tree |= below
    return {pid: times[pid] for pid in tree - {root}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--renders", type=int, default=50)
    args = parser.parse_args()
    template = default_template("analysis", "en")
    context = sample_context()
    wall_before, cpu_before = time.monotonic(), cpu_seconds()
    for _ in range(args.renders):
        render(template.text, context)
    wall, cpu = time.monotonic() - wall_before, cpu_seconds() - cpu_before
    print(
        f"{args.renders} renders of {template.name}: wall {wall:.2f} s ({wall / args.renders * 1000:.0f} ms each), "
        f"CPU {cpu:.2f} s ({cpu / args.renders * 1000:.0f} ms each); {machine()}"
    )


if __name__ == "__main__":
    main()
