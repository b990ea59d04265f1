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
import time

from bench.common import cpu_seconds_of_tree, machine
from tradelane.prompts.context import sample_context
from tradelane.prompts.defaults import default_template
from tradelane.prompts.rendering import render


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--renders", type=int, default=50)
    args = parser.parse_args()
    template = default_template("analysis", "en")
    context = sample_context()
    wall_before, cpu_before = time.monotonic(), cpu_seconds_of_tree(os.getpid())
    for _ in range(args.renders):
        render(template.text, context)
    wall, cpu = time.monotonic() - wall_before, cpu_seconds_of_tree(os.getpid()) - cpu_before
    print(
        f"{args.renders} renders of {template.name}: wall {wall:.2f} s ({wall / args.renders * 1000:.0f} ms each), "
        f"CPU {cpu:.2f} s ({cpu / args.renders * 1000:.0f} ms each); {machine()}"
    )


if __name__ == "__main__":
    main()
