"""/api/signals: the signals the ledger recorded, filtered, newest first, and one signal with its chain."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from nats.aio.client import Client as NatsClient

from services.gateway.tests.conftest import ClientOf
from tests.support.ledger import ledger_outcome, ledger_signal
from tests.support.messages import collect
from tradelane.contracts import subjects
from tradelane.contracts.book import OrderRecord
from tradelane.contracts.market import ResolvedSymbol
from tradelane.contracts.outcomes import OutcomeRecorded
from tradelane.contracts.strategy import AssetType
from tradelane.contracts.trading import OrderSide, OrderStatus, OrderTicket, OrderType, Venue, order_id
from tradelane.gateway.state import GatewayState
from tradelane.store.book.transactions import BookRepository
from tradelane.store.ledger import LedgerRepository

NOW = datetime.now(UTC)
AAPL = ResolvedSymbol(conid=265598, symbol="AAPL", exchange="NASDAQ", currency="USD", asset_type=AssetType.STOCK)


async def recorded_signal(state: GatewayState, **given: Any) -> UUID:
    """A signal as the ledger service records it (see :func:`tests.support.ledger.ledger_signal`); returns its id."""
    signal = ledger_signal(**{"occurred_at": NOW, **given})
    await LedgerRepository(state.pool).record_signal(signal)
    return signal.signal_id


async def test_signals_are_listed_newest_first_with_their_execution(
    client: httpx.AsyncClient, state: GatewayState
) -> None:
    older = await recorded_signal(state, occurred_at=NOW - timedelta(minutes=5))
    newer = await recorded_signal(state, action="SELL", rejected=True)
    response = await client.get("/api/signals")
    assert response.status_code == 200, response.text
    listed = response.json()
    assert [item["signal_id"] for item in listed] == [str(newer), str(older)]
    assert listed[0]["outcome"] == "rejected"
    assert listed[0]["rule"] == "min_risk_reward"
    assert listed[0]["signal"]["action"] == "SELL"
    assert listed[1]["outcome"] == "generated"
    assert listed[1]["strategy_name"] == "AAPL daily"
    assert listed[1]["order_id"] is None


async def test_signals_are_filtered_by_strategy_action_outcome_and_time(
    client: httpx.AsyncClient, state: GatewayState
) -> None:
    strategy = uuid4()
    wanted = await recorded_signal(state, strategy_id=strategy, action="BUY")
    await recorded_signal(state, strategy_id=strategy, action="HOLD")
    await recorded_signal(state, strategy_id=strategy, action="BUY", rejected=True)
    await recorded_signal(state, strategy_id=strategy, action="BUY", occurred_at=NOW - timedelta(days=2))
    await recorded_signal(state, action="BUY")
    response = await client.get(
        "/api/signals",
        params={
            "strategy_id": str(strategy),
            "action": "BUY",
            "outcome": "generated",
            "since": (NOW - timedelta(hours=1)).isoformat(),
            "until": (NOW + timedelta(hours=1)).isoformat(),
        },
    )
    assert [item["signal_id"] for item in response.json()] == [str(wanted)]


async def test_an_unknown_action_is_a_422_naming_it(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/signals", params={"action": "SHORT"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "action"]


async def test_a_signal_that_placed_an_order_links_to_it(client: httpx.AsyncClient, state: GatewayState) -> None:
    signal_id = await recorded_signal(state)
    await recorded_signal(state)
    book = BookRepository(state.pool)
    await book.open_account(Venue.PAPER, "paper", "", Decimal(100_000))
    ticket = OrderTicket(
        client_ref="tl-s-1", instrument=AAPL, side=OrderSide.BUY, order_type=OrderType.MARKET, quantity=Decimal(5)
    )
    order = OrderRecord(
        id=order_id("tl-s-1"),
        ticket=ticket,
        group_ref="tl-s-1",
        source="signal",
        venue=Venue.PAPER,
        execution_id=uuid4(),
        strategy_id=uuid4(),
        signal_id=signal_id,
        causation_id=None,
        status=OrderStatus.ACCEPTED,
    )
    async with book.transaction() as tx:
        assert await tx.insert_order(order)
    listed = {item["signal_id"]: item for item in (await client.get("/api/signals")).json()}
    assert listed[str(signal_id)]["order_id"] == str(order.id)
    assert listed[str(signal_id)]["order_status"] == "accepted"
    assert [item["order_id"] for key, item in listed.items() if key != str(signal_id)] == [None]


async def test_signals_carry_their_provenance_and_are_filtered_by_symbol_model_and_prompt_version(
    client: httpx.AsyncClient, state: GatewayState
) -> None:
    template = uuid4()
    wanted = await recorded_signal(state, symbol="MSFT", model="vision-1", prompt=(template, 3))
    await recorded_signal(state, symbol="MSFT", model="vision-1", prompt=(template, 2))
    await recorded_signal(state, symbol="MSFT", model="vision-2", prompt=(template, 3))
    await recorded_signal(state, symbol="AAPL", model="vision-1", prompt=(template, 3))
    params = {"symbol": "MSFT", "model": "vision-1", "prompt_template_id": str(template), "prompt_version": "3"}
    [listed] = (await client.get("/api/signals", params=params)).json()
    assert listed["signal_id"] == str(wanted)
    assert listed["strategy_version"] == 2
    assert listed["provenance"] | {"prompt_template_id": None} == {
        "analyst": "llm",
        "model": "vision-1",
        "llm_provider": None,
        "prompt_template_id": None,
        "prompt_name": "swing",
        "prompt_version": 3,
        "chart_sha256": "c" * 64,
        "tokens_in": 1200,
        "tokens_out": 300,
        "cost": "0.0042",
        "reference_price": "190.4",
        "reference_bar_time": listed["provenance"]["reference_bar_time"],
        "bar_size": "1 day",
        "atr": "2.5",
    }
    assert listed["status"] == listed["outcome"] == "generated"


async def test_a_signal_is_shown_with_its_execution_and_analysis(
    client: httpx.AsyncClient, state: GatewayState
) -> None:
    execution_id = uuid4()
    signal_id = await recorded_signal(state, execution_id=execution_id)
    detail = (await client.get(f"/api/signals/{signal_id}")).json()
    assert (detail["signal_id"], detail["execution_id"]) == (str(signal_id), str(execution_id))
    assert detail["analysis"]["bias"] == "bullish"
    assert detail["execution"] is None, "no lineage was recorded for this execution"
    assert (detail["orders"], detail["positions"]) == ([], [])


async def test_an_unknown_signal_is_a_404_and_a_status_its_earlier_name_contradicts_a_422(
    client: httpx.AsyncClient,
) -> None:
    unknown = await client.get(f"/api/signals/{uuid4()}")
    assert unknown.status_code == 404
    assert "GET /api/signals" in unknown.json()["detail"]
    contradicted = await client.get("/api/signals", params={"status": "generated", "outcome": "rejected"})
    assert contradicted.status_code == 422
    assert contradicted.json()["detail"][0]["loc"] == ["query", "outcome"]
    assert "disagree" in contradicted.json()["detail"][0]["msg"]


async def test_an_outcome_recorded_by_hand_is_published_kept_beside_the_automatic_one_and_counts_first(
    client: httpx.AsyncClient, state: GatewayState, nats_client: NatsClient
) -> None:
    """A BUY at 190.5 with its stop at 185 (a risk of 5.5), closed by hand at 201.5: 2R, and 10 x 11 - 2 = 108."""
    signal_id = await recorded_signal(state, occurred_at=NOW - timedelta(hours=2))
    shadow = ledger_outcome(signal_id, r=-1)
    await LedgerRepository(state.pool).record_outcome(shadow)
    published = await collect(nats_client, subjects.OUTCOME_RECORDED)
    body = {"exit_price": "201.5", "exit_at": (NOW - timedelta(minutes=5)).isoformat(), "quantity": "10", "fees": "2"}
    response = await client.post(f"/api/signals/{signal_id}/outcome", json=body)
    assert response.status_code == 201, response.text
    recorded = response.json()
    assert (recorded["source"], recorded["kind"], recorded["r_multiple"], recorded["pnl"]) == (
        "manual",
        "manual",
        "2",
        "108",
    )
    assert (recorded["hit"], recorded["recorded_by"]) == (True, "test-admin")
    event = OutcomeRecorded.model_validate_json((await published.next()).data)
    assert (event.signal_id, event.source, event.causation_id) == (signal_id, "manual", signal_id)

    shown = (await client.get(f"/api/signals/{signal_id}")).json()
    assert shown["result"]["source"] == "manual"
    assert [outcome["source"] for outcome in shown["outcomes"]] == ["manual", "shadow"]


async def test_an_outcome_by_hand_is_refused_for_what_was_never_a_trade_or_is_dated_before_it(
    client: httpx.AsyncClient, client_of: ClientOf, state: GatewayState
) -> None:
    exit_ = {"exit_price": "200", "exit_at": NOW.isoformat()}
    buy = await recorded_signal(state, occurred_at=NOW - timedelta(hours=1))
    hold = await recorded_signal(state, action="HOLD", occurred_at=NOW - timedelta(hours=1))
    rejected = await recorded_signal(state, rejected=True, occurred_at=NOW - timedelta(hours=1))
    unknown = await client.post(f"/api/signals/{uuid4()}/outcome", json=exit_)
    assert unknown.status_code == 404
    for signal_id, named in ((hold, "is a HOLD"), (rejected, "was rejected (min_risk_reward)")):
        refused = await client.post(f"/api/signals/{signal_id}/outcome", json=exit_)
        assert refused.status_code == 422
        assert named in refused.json()["detail"][0]["msg"]
    too_early = {"exit_price": "200", "exit_at": (NOW - timedelta(hours=2)).isoformat()}
    early = await client.post(f"/api/signals/{buy}/outcome", json=too_early)
    assert early.status_code == 422
    assert early.json()["detail"][0]["loc"] == ["body", "exit_at"]
    assert "is before the signal" in early.json()["detail"][0]["msg"]
    operator = await client_of("operate")
    assert (await operator.post(f"/api/signals/{buy}/outcome", json=exit_)).status_code == 403


async def test_performance_by_model_counts_ranks_and_calibrates_from_the_outcome_that_counts(
    client: httpx.AsyncClient, state: GatewayState
) -> None:
    """Two outcomes of vision-1 (2R by hand over a shadow stop, and -1R); one of vision-2, too few to rank."""
    repository = LedgerRepository(state.pool)

    async def judged(model: str, r: int) -> UUID:
        signal_id = await recorded_signal(state, model=model, occurred_at=NOW - timedelta(hours=3))
        await repository.record_outcome(ledger_outcome(signal_id, r=r))
        return signal_id

    overruled = await judged("vision-1", -1)
    await repository.record_outcome(ledger_outcome(overruled, r=2, source="manual", pnl=Decimal(200)))
    await judged("vision-1", -1)
    await judged("vision-2", 3)
    await recorded_signal(state, model="vision-2", rejected=True)
    response = await client.get(
        "/api/performance",
        params={"group_by": "model", "min_outcomes": 2, "since": (NOW - timedelta(days=1)).isoformat()},
    )
    assert response.status_code == 200, response.text
    ranked, unranked = response.json()["groups"]
    assert (ranked["label"], ranked["rank"], ranked["signals"], ranked["outcomes"]) == ("vision-1", 1, 2, 2)
    assert (ranked["hit_rate"], ranked["mean_r"], ranked["profit_factor"], ranked["pnl"]) == (0.5, 0.5, 2.0, "200")
    assert ranked["calibration"] == [{"low": 70, "high": 79, "outcomes": 2, "hit_rate": 0.5, "mean_confidence": 70.0}]
    assert ranked["brier_score"] == pytest.approx((0.3**2 + 0.7**2) / 2)
    assert (unranked["label"], unranked["rank"], unranked["note"]) == ("vision-2", None, "too few outcomes to rank")
    assert unranked["signals"] == 1, "a rejected candidate is no signal to judge"
