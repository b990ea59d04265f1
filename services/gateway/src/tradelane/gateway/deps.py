"""FastAPI dependencies: how a route reaches the repositories and the bus the lifespan opened."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from tradelane.gateway.security.context import Principal, principal_of
from tradelane.gateway.state import GatewayState
from tradelane.runtime.bus import EventBus
from tradelane.runtime.payloads import PayloadStore
from tradelane.store.backtests import BacktestRepository
from tradelane.store.ledger import LedgerRepository
from tradelane.store.lineage import LineageRepository
from tradelane.store.strategies import StrategyRepository


def gateway_state(request: Request) -> GatewayState:
    state: GatewayState = request.app.state.gateway
    return state


def strategy_repository(state: Annotated[GatewayState, Depends(gateway_state)]) -> StrategyRepository:
    return state.strategies


def lineage_repository(state: Annotated[GatewayState, Depends(gateway_state)]) -> LineageRepository:
    return state.lineage


def ledger_repository(state: Annotated[GatewayState, Depends(gateway_state)]) -> LedgerRepository:
    return LedgerRepository(state.pool)


def backtest_repository(state: Annotated[GatewayState, Depends(gateway_state)]) -> BacktestRepository:
    return BacktestRepository(state.pool)


def event_bus(state: Annotated[GatewayState, Depends(gateway_state)]) -> EventBus:
    return state.bus


def payload_store(state: Annotated[GatewayState, Depends(gateway_state)]) -> PayloadStore:
    return state.payloads


State = Annotated[GatewayState, Depends(gateway_state)]
Strategies = Annotated[StrategyRepository, Depends(strategy_repository)]
Lineage = Annotated[LineageRepository, Depends(lineage_repository)]
Ledger = Annotated[LedgerRepository, Depends(ledger_repository)]
Backtests = Annotated[BacktestRepository, Depends(backtest_repository)]
Bus = Annotated[EventBus, Depends(event_bus)]
Payloads = Annotated[PayloadStore, Depends(payload_store)]


def caller(request: Request) -> Principal:
    return principal_of(request)


Caller = Annotated[Principal, Depends(caller)]
