"""The execution's pipeline as a graph: one node per step with its status and duration, laid out for SVG.

The six pipeline steps always have a node, so a running execution shows what is still to come
(``pending``) and which step is being worked on (``running``); the broker's steps (orders, fills,
positions, a skipped signal) and a dead letter follow the signal when the lineage has them. The
template draws the nodes and edges; status colours are CSS classes, never inline style (the pages'
Content-Security-Policy has no ``'unsafe-inline'``).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise
from typing import Final
from uuid import UUID

from tradelane.contracts.subjects import Step
from tradelane.gateway.schemas import ExecutionDetailOut, StepOut

PIPELINE: Final = tuple(step.value for step in Step)
COLUMNS: Final = 3
NODE_WIDTH: Final = 170
NODE_HEIGHT: Final = 56
GAP_X: Final = 50
GAP_Y: Final = 34
MARGIN: Final = 8


@dataclass(frozen=True)
class Node:
    """One step: where it is drawn, how it went, and the step record it links to (None until it ran)."""

    name: str
    status: str
    duration_ms: float | None
    message_id: UUID | None
    x: int
    y: int

    @property
    def centre_x(self) -> int:
        return self.x + NODE_WIDTH // 2


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
    node_width: int = NODE_WIDTH
    node_height: int = NODE_HEIGHT


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
        start, end = (source.x + NODE_WIDTH, target.x) if target.x > source.x else (source.x, target.x + NODE_WIDTH)
        middle = source.y + NODE_HEIGHT // 2
        return Edge(f"M{start},{middle} L{end},{middle}", status)
    drop = source.y + NODE_HEIGHT + GAP_Y // 2
    points = [
        (source.centre_x, source.y + NODE_HEIGHT),
        (source.centre_x, drop),
        (target.centre_x, drop),
        (target.centre_x, target.y),
    ]
    return Edge("M" + " L".join(f"{x},{y}" for x, y in points), status)


def pipeline_graph(detail: ExecutionDetailOut | None) -> Graph:
    """The graph of ``detail`` (every step pending when the lineage has not recorded the execution yet)."""
    steps = detail.steps if detail is not None else []
    running = detail is None or detail.status == "running"
    latest = _latest_by_step(steps)
    names = list(PIPELINE) + [name for name in latest if name not in PIPELINE]
    first_missing = next((name for name in PIPELINE if name not in latest), None)
    failed = any(step.status == "failed" for step in steps)
    nodes: list[Node] = []
    for index, name in enumerate(names):
        row, column = divmod(index, COLUMNS)
        # rows run left to right and right to left in turn, so each arrow is short
        column = column if row % 2 == 0 else COLUMNS - 1 - column
        recorded = latest.get(name)
        status = _status(recorded, running and not failed, name == first_missing)
        nodes.append(
            Node(
                name=name,
                status=status,
                duration_ms=recorded.duration_ms if recorded else None,
                message_id=recorded.message_id if recorded else None,
                x=MARGIN + column * (NODE_WIDTH + GAP_X),
                y=MARGIN + row * (NODE_HEIGHT + GAP_Y),
            )
        )
    edges = tuple(_edge(source, target) for source, target in pairwise(nodes))
    rows = (len(nodes) + COLUMNS - 1) // COLUMNS
    width = 2 * MARGIN + COLUMNS * NODE_WIDTH + (COLUMNS - 1) * GAP_X
    height = 2 * MARGIN + rows * NODE_HEIGHT + (rows - 1) * GAP_Y
    return Graph(nodes=tuple(nodes), edges=edges, width=width, height=height)
