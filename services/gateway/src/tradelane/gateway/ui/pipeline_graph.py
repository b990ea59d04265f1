"""The execution's pipeline as a graph: one node per step with its status and duration, laid out for SVG.

The six pipeline steps always have a node, so a running execution shows what is still to come
(``pending``) and which step is being worked on (``running``); the broker's steps (orders, fills,
positions, a skipped signal) and a dead letter follow the signal when the lineage has them. The
template draws the nodes and edges; status colours are CSS classes, never inline style (the pages'
Content-Security-Policy has no ``'unsafe-inline'``).

There are two layouts of the same graph: :data:`WIDE`, rows of three, and :data:`NARROW`, one
column read from top to bottom at about its own size on a phone (the wide one scaled down to a
390-pixel screen would have 8-pixel text). The page draws both and its stylesheet shows the one
that fits the screen.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise
from typing import Final
from uuid import UUID

from tradelane.contracts.subjects import Step
from tradelane.gateway.schemas import ExecutionDetailOut, StepOut

PIPELINE: Final = tuple(step.value for step in Step)
MARGIN: Final = 8


@dataclass(frozen=True)
class Layout:
    """How the nodes are placed: in rows of ``columns`` (every other row right to left, so each arrow is
    short), each node ``node_width`` by ``node_height``, ``gap_x`` and ``gap_y`` apart. ``one_line`` writes a
    node's status beside its name instead of under it."""

    columns: int
    node_width: int
    node_height: int
    gap_x: int
    gap_y: int
    one_line: bool


WIDE: Final = Layout(columns=3, node_width=170, node_height=56, gap_x=50, gap_y=34, one_line=False)
NARROW: Final = Layout(columns=1, node_width=300, node_height=40, gap_x=0, gap_y=18, one_line=True)
"""A phone's: 316 units wide, about the width of a card on a 390-pixel screen, so its text keeps its size."""


@dataclass(frozen=True)
class Node:
    """One step: where it is drawn, how it went, and the step record it links to (None until it ran)."""

    name: str
    status: str
    duration_ms: float | None
    message_id: UUID | None
    x: int
    y: int
    width: int
    height: int

    @property
    def centre_x(self) -> int:
        return self.x + self.width // 2

    @property
    def right(self) -> int:
        return self.x + self.width

    @property
    def bottom(self) -> int:
        return self.y + self.height


@dataclass(frozen=True)
class Edge:
    """An arrow from one node to the next, as an SVG path (straight in a row, an elbow down to the next row)."""

    path: str
    status: str


@dataclass(frozen=True)
class Graph:
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]
    width: int
    height: int
    layout: Layout


def _latest_by_step(steps: list[StepOut]) -> dict[str, StepOut]:
    """The last record of each step (a redelivered or redriven message can record a step twice)."""
    latest: dict[str, StepOut] = {}
    for step in steps:
        latest[step.step] = step
    return latest


def _status(recorded: StepOut | None, execution_running: bool, next_to_run: bool) -> str:
    """A recorded step's own status; otherwise ``running`` (the step being worked on), ``pending`` or
    ``not_reached`` (the execution ended before it)."""
    if recorded is not None:
        return recorded.status
    if execution_running and next_to_run:
        return "running"
    return "pending" if execution_running else "not_reached"


def _edge(source: Node, target: Node) -> Edge:
    status = "done" if target.status not in {"pending", "not_reached", "running"} else "ahead"
    if source.y == target.y:
        start, end = (source.right, target.x) if target.x > source.x else (source.x, target.right)
        middle = source.y + source.height // 2
        return Edge(f"M{start},{middle} L{end},{middle}", status)
    drop = (source.bottom + target.y) // 2
    points = [
        (source.centre_x, source.bottom),
        (source.centre_x, drop),
        (target.centre_x, drop),
        (target.centre_x, target.y),
    ]
    return Edge("M" + " L".join(f"{x},{y}" for x, y in points), status)


def pipeline_graph(detail: ExecutionDetailOut | None, layout: Layout = WIDE) -> Graph:
    """The graph of ``detail`` (every step pending when the lineage has not recorded the execution yet)."""
    steps = detail.steps if detail is not None else []
    running = detail is None or detail.status == "running"
    latest = _latest_by_step(steps)
    names = list(PIPELINE) + [name for name in latest if name not in PIPELINE]
    first_missing = next((name for name in PIPELINE if name not in latest), None)
    failed = any(step.status == "failed" for step in steps)
    nodes: list[Node] = []
    for index, name in enumerate(names):
        row, column = divmod(index, layout.columns)
        # rows run left to right and right to left in turn, so each arrow is short
        column = column if row % 2 == 0 else layout.columns - 1 - column
        recorded = latest.get(name)
        status = _status(recorded, running and not failed, name == first_missing)
        nodes.append(
            Node(
                name=name,
                status=status,
                duration_ms=recorded.duration_ms if recorded else None,
                message_id=recorded.message_id if recorded else None,
                x=MARGIN + column * (layout.node_width + layout.gap_x),
                y=MARGIN + row * (layout.node_height + layout.gap_y),
                width=layout.node_width,
                height=layout.node_height,
            )
        )
    edges = tuple(_edge(source, target) for source, target in pairwise(nodes))
    rows = (len(nodes) + layout.columns - 1) // layout.columns
    width = 2 * MARGIN + layout.columns * layout.node_width + (layout.columns - 1) * layout.gap_x
    height = 2 * MARGIN + rows * layout.node_height + (rows - 1) * layout.gap_y
    return Graph(nodes=tuple(nodes), edges=edges, width=width, height=height, layout=layout)
