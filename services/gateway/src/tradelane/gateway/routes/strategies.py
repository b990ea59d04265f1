"""``/api/strategies``: create, read, update and delete strategies, check one before saving, and run one now."""

from __future__ import annotations

from typing import Annotated, Final
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

import nats.errors
from fastapi import APIRouter, Body, HTTPException, Response, status

from tradelane.contracts.envelope import utc_now
from tradelane.contracts.events import ExecutionRequested, Trigger
from tradelane.contracts.strategy import StrategyDefinition
from tradelane.contracts.strategy_warnings import strategy_warnings
from tradelane.cron import next_fires
from tradelane.gateway.cron import next_run_at
from tradelane.gateway.deps import Bus, Caller, State, Strategies
from tradelane.gateway.errors import BUS_UNAVAILABLE, CONFLICT, NOT_FOUND, ensure_valid_cron, strategy_not_found
from tradelane.gateway.outage import bus_unavailable, require_nats
from tradelane.gateway.schemas import STRATEGY_EXAMPLES, ErrorOut, RunAccepted, StrategyCheckOut, StrategyOut
from tradelane.gateway.security.access import require_scope
from tradelane.gateway.security.context import Principal
from tradelane.gateway.security.policy import strategy_write_scope
from tradelane.store.strategies import StoredStrategy, StrategyNameTakenError

router = APIRouter(prefix="/api/strategies", tags=["strategies"])

DefinitionBody = Annotated[StrategyDefinition, Body(openapi_examples=STRATEGY_EXAMPLES)]


NEXT_RUNS_SHOWN: Final = 5
"""How many coming runs a check lists."""

NEEDS_TRADE: dict[int | str, dict[str, object]] = {
    status.HTTP_403_FORBIDDEN: {"model": ErrorOut, "description": "Switching auto_trade on needs a trade token."}
}


def _out(stored: StoredStrategy) -> StrategyOut:
    return StrategyOut.of(stored, next_run_at(stored.definition, utc_now()))


def _ensure_may_write(caller: Principal, new: StrategyDefinition, old: StrategyDefinition | None) -> None:
    """A 403 when the write needs more than the caller's scope (see :func:`strategy_write_scope`)."""
    require_scope(caller, *strategy_write_scope(new, old))


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Create a strategy",
    responses={**CONFLICT, **NEEDS_TRADE},
)
async def create_strategy(definition: DefinitionBody, strategies: Strategies, caller: Caller) -> StrategyOut:
    """Store a new strategy; its name must be unique and its cron valid; ``auto_trade`` on needs ``trade``."""
    _ensure_may_write(caller, definition, None)
    ensure_valid_cron(definition.schedule.cron)
    try:
        stored = await strategies.create(definition)
    except StrategyNameTakenError as error:
        raise HTTPException(status.HTTP_409_CONFLICT, str(error)) from error
    return _out(stored)


@router.post("/check", summary="Check a strategy before saving it")
async def check_strategy(definition: DefinitionBody) -> StrategyCheckOut:
    """Validate a strategy as create and replace would, and store nothing.

    An invalid body or cron is the same 422 that create answers. A valid one comes back with
    the risky values it has (allowed, shown as warnings) and the next five times its cron
    runs, in its time zone.
    """
    ensure_valid_cron(definition.schedule.cron)
    schedule = definition.schedule
    zone = ZoneInfo(schedule.timezone)
    runs = next_fires(schedule.cron, schedule.timezone, utc_now(), NEXT_RUNS_SHOWN)
    return StrategyCheckOut(
        warnings=list(strategy_warnings(definition)),
        timezone=schedule.timezone,
        next_runs=[run.astimezone(zone) for run in runs],
    )


@router.get("", summary="List strategies")
async def list_strategies(strategies: Strategies, active: bool | None = None) -> list[StrategyOut]:
    """Every strategy by name; ``active=true`` or ``false`` keeps only those."""
    return [_out(stored) for stored in await strategies.list(active=active)]


@router.get("/{strategy_id}", summary="Get a strategy", responses=NOT_FOUND)
async def get_strategy(strategy_id: UUID, strategies: Strategies) -> StrategyOut:
    stored = await strategies.get(strategy_id)
    if stored is None:
        raise strategy_not_found(strategy_id)
    return _out(stored)


@router.put("/{strategy_id}", summary="Replace a strategy", responses={**NOT_FOUND, **CONFLICT, **NEEDS_TRADE})
async def update_strategy(
    strategy_id: UUID, definition: DefinitionBody, strategies: Strategies, caller: Caller
) -> StrategyOut:
    """Replace the whole definition; the version goes up by one.

    Switching ``auto_trade`` on, or changing the ``risk`` of a strategy that auto-trades, needs ``trade``.
    """
    current = await strategies.get(strategy_id)
    if current is None:
        raise strategy_not_found(strategy_id)
    _ensure_may_write(caller, definition, current.definition)
    ensure_valid_cron(definition.schedule.cron)
    try:
        stored = await strategies.update(strategy_id, definition)
    except StrategyNameTakenError as error:
        raise HTTPException(status.HTTP_409_CONFLICT, str(error)) from error
    if stored is None:
        raise strategy_not_found(strategy_id)
    return _out(stored)


@router.delete(
    "/{strategy_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a strategy",
    responses=NOT_FOUND,
)
async def delete_strategy(strategy_id: UUID, strategies: Strategies) -> Response:
    """Delete a strategy; its past executions stay in the lineage."""
    if not await strategies.delete(strategy_id):
        raise strategy_not_found(strategy_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{strategy_id}/run",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Run a strategy now",
    responses={**NOT_FOUND, **BUS_UNAVAILABLE},
)
async def run_strategy(strategy_id: UUID, strategies: Strategies, bus: Bus, state: State) -> RunAccepted:
    """Request an execution of the strategy as it is now, even when it is inactive.

    202 only once JetStream has stored the request; 503 (with ``Retry-After``) when it could not.
    """
    require_nats(state.broker)
    stored = await strategies.get(strategy_id)
    if stored is None:
        raise strategy_not_found(strategy_id)
    request = ExecutionRequested(
        execution_id=uuid4(),
        strategy_id=stored.id,
        strategy=stored.definition,
        trigger=Trigger.MANUAL,
        as_of=utc_now(),
    )
    try:
        await bus.publish(request)
    except nats.errors.Error as error:
        raise bus_unavailable("the run request was not accepted", error) from error
    return RunAccepted(execution_id=request.execution_id, status_url=f"/api/executions/{request.execution_id}")
