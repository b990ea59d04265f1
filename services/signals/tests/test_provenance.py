"""A signal's provenance: the analyst, prompt, chart, tokens and cost of the analysis, and the market it was made in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Literal
from uuid import uuid4

from tradelane.contracts.events import (
    Analysis,
    AnalysisCompleted,
    LlmCall,
    SignalGenerated,
    SignalRejected,
    TemplateRef,
)
from tradelane.contracts.market import MarketSnapshot, ObjectRef, ResolvedSymbol
from tradelane.contracts.strategy import AssetType, BarSize, RiskLimits, StrategyDefinition, SymbolRef
from tradelane.signals.handlers import SignalMaker

NOW = datetime(2025, 6, 13, 21, 0, tzinfo=UTC)
TEMPLATE_ID = uuid4()
CHART = ObjectRef(bucket="charts", name="a" * 64, size=10, content_type="image/png")


def _call(purpose: Literal["analysis", "consolidation"], tokens: int, cost: Decimal | None) -> LlmCall:
    user = TemplateRef(type="analysis", name="swing", template_id=TEMPLATE_ID, version=3)
    consolidation = TemplateRef(type="consolidation", name="builtin-consolidation-en")
    return LlmCall(
        purpose=purpose,
        timeframe=BarSize.DAY_1,
        provider="api.example.com",
        model="vision-1",
        templates=(
            TemplateRef(type="system", name="builtin-system-en"),
            user if purpose == "analysis" else consolidation,
        ),
        system_prompt="",
        prompt="",
        temperature=0.2,
        max_tokens=100,
        tokens_in=tokens,
        tokens_out=tokens // 10,
        cost=cost,
        cache_key="k",
    )


def _analysis_completed(*calls: LlmCall, model: str = "vision-1", risk: RiskLimits | None = None) -> AnalysisCompleted:
    return AnalysisCompleted(
        execution_id=uuid4(),
        strategy_id=uuid4(),
        strategy=StrategyDefinition(name="t", symbol=SymbolRef(symbol="TEST"), risk=risk or RiskLimits()),
        snapshot=MarketSnapshot(
            symbol=ResolvedSymbol(
                conid=1, symbol="TEST", exchange="NASDAQ", currency="USD", asset_type=AssetType.STOCK
            ),
            bar_size=BarSize.DAY_1,
            last_bar_time=NOW - timedelta(days=1),
            last_close=100.1,
            recent_bars=(),
            latest={"atr_14": 2.5},
            previous={},
        ),
        analysis=Analysis(bias="bullish", trend="uptrend", confidence=80, model=model),
        charts=(CHART,),
        llm_calls=calls,
    )


async def test_a_model_signal_names_its_prompt_version_chart_and_the_cost_of_every_call() -> None:
    message = _analysis_completed(_call("analysis", 1000, Decimal("0.01")), _call("consolidation", 500, None))
    signal = await SignalMaker(clock=lambda: NOW).on_analysis_completed(message)
    provenance = signal.provenance
    assert provenance is not None
    assert (provenance.analyst, provenance.model, provenance.llm_provider) == ("llm", "vision-1", "api.example.com")
    assert provenance.prompt_template_id == TEMPLATE_ID
    assert (provenance.prompt_name, provenance.prompt_version) == ("swing", 3)
    assert provenance.chart_sha256 == "a" * 64
    assert (provenance.tokens_in, provenance.tokens_out, provenance.cost) == (1500, 150, Decimal("0.01"))


async def test_an_offline_signal_and_a_rejected_candidate_carry_the_market_they_were_made_in() -> None:
    maker = SignalMaker(clock=lambda: NOW)
    generated = await maker.on_analysis_completed(_analysis_completed(model="offline-rules-v1"))
    too_demanding = RiskLimits(min_risk_reward=Decimal(50))
    rejected = await maker.on_analysis_completed(_analysis_completed(model="offline-rules-v1", risk=too_demanding))
    assert isinstance(generated, SignalGenerated)
    assert isinstance(rejected, SignalRejected)
    for signal in (generated, rejected):
        provenance = signal.provenance
        assert provenance is not None
        assert (provenance.analyst, provenance.prompt_version, provenance.cost) == ("offline", None, None)
        assert (provenance.reference_price, provenance.atr) == (Decimal("100.1"), Decimal("2.5"))
        assert (provenance.reference_bar_time, provenance.bar_size) == (NOW - timedelta(days=1), BarSize.DAY_1)
