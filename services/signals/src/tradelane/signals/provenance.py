"""Where a signal came from, summed up from the analysis it was made of (pure).

The analysis message holds every model call in full; the signal carries only what judging it
later needs: the analyst and model, the analysis prompt template and its version, the chart,
the tokens and cost of all calls together, and the market it was made in (the last close, the
bar, the ATR the rules used).
"""

from __future__ import annotations

from decimal import Decimal

from tradelane.contracts.events import AnalysisCompleted, LlmCall, SignalProvenance, TemplateRef
from tradelane.contracts.market import decimal_of


def _analysis_template(calls: tuple[LlmCall, ...]) -> TemplateRef | None:
    """The user template of the first per-timeframe call: the prompt the strategy chose."""
    for call in calls:
        if call.purpose == "analysis":
            for template in call.templates:
                if template.type == "analysis":
                    return template
    return None


def _total_cost(calls: tuple[LlmCall, ...]) -> Decimal | None:
    """The priced calls' cost together; None when no call was priced."""
    priced = [call.cost for call in calls if call.cost is not None]
    return sum(priced, Decimal(0)) if priced else None


def provenance_of(msg: AnalysisCompleted, atr: Decimal | None) -> SignalProvenance:
    """The provenance of a signal made from ``msg`` with ``atr``."""
    calls = msg.llm_calls
    template = _analysis_template(calls)
    return SignalProvenance(
        analyst="llm" if calls else "offline",
        model=msg.analysis.model,
        llm_provider=calls[0].provider if calls else None,
        prompt_template_id=template.template_id if template else None,
        prompt_name=template.name if template else None,
        prompt_version=template.version if template else None,
        chart_sha256=msg.charts[0].name if msg.charts else None,
        tokens_in=sum(call.tokens_in for call in calls),
        tokens_out=sum(call.tokens_out for call in calls),
        cost=_total_cost(calls),
        reference_price=decimal_of(msg.snapshot.last_close),
        reference_bar_time=msg.snapshot.last_bar_time,
        bar_size=msg.snapshot.bar_size,
        atr=atr,
    )
