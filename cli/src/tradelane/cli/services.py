"""The services ``tradelane up`` supervises, in start order (consumers before producers)."""

from __future__ import annotations

SERVICES: tuple[str, ...] = (
    "lineage",
    "notifier",
    "ledger",
    "market_data",
    "indicators",
    "charts",
    "llm_analyst",
    "broker",
    "signals",
    "backtester",
    "scheduler",
    "gateway",
)

ENTRY_SERVICES: frozenset[str] = frozenset({"gateway", "scheduler", "backtester"})
"""The services through which new work enters the pipeline: stopped first, so the others can drain."""


def module_of(service: str) -> str:
    """The module ``python -m`` runs for a service name ('market-data' or 'market_data')."""
    name = service.replace("-", "_")
    if name not in SERVICES:
        known = ", ".join(SERVICES)
        raise ValueError(f"unknown service {service!r}; one of: {known}")
    return f"tradelane.{name}"
