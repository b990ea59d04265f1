"""How a signal event becomes a ledger row (pure: no I/O).

A generated signal and a rejected candidate are both recorded: the rejected ones say which rule
refused them. The provenance comes from the event (the signal step copies it from the analysis);
a signal step older than the ledger sent none, and then only what the signal itself says is kept.
"""

from __future__ import annotations

from tradelane.contracts.events import SignalGenerated, SignalRejected
from tradelane.store.ledger import LedgerSignal


def ledger_signal(event: SignalGenerated | SignalRejected, strategy_version: int | None) -> LedgerSignal:
    """The ledger row of ``event``; ``strategy_version`` is the stored version that ran, when known."""
    rejected = event if isinstance(event, SignalRejected) else None
    signal = event.candidate if isinstance(event, SignalRejected) else event.signal
    provenance = event.provenance
    strategy = event.strategy
    return LedgerSignal(
        signal_id=event.message_id,
        execution_id=event.execution_id,
        strategy_id=event.strategy_id,
        strategy_name=strategy.name,
        strategy_version=strategy_version,
        replay_of=event.replay_of,
        status="rejected" if rejected else "generated",
        rule=rejected.rule if rejected else None,
        reason=rejected.reason if rejected else None,
        action=signal.action.value,
        confidence=signal.confidence,
        symbol=signal.symbol.symbol,
        conid=signal.symbol.conid,
        entry=signal.entry,
        stop=signal.stop,
        first_target=signal.targets[0] if signal.targets else None,
        expires_at=signal.expires_at,
        signal=signal.model_dump(mode="json"),
        analysis=event.analysis.model_dump(mode="json"),
        analyst=provenance.analyst if provenance else None,
        model=provenance.model if provenance else signal.model,
        llm_provider=provenance.llm_provider if provenance else None,
        prompt_template_id=provenance.prompt_template_id if provenance else None,
        prompt_name=provenance.prompt_name if provenance else None,
        prompt_version=provenance.prompt_version if provenance else None,
        chart_sha256=provenance.chart_sha256 if provenance else None,
        tokens_in=provenance.tokens_in if provenance else 0,
        tokens_out=provenance.tokens_out if provenance else 0,
        cost=provenance.cost if provenance else None,
        reference_price=provenance.reference_price if provenance else None,
        reference_bar_time=provenance.reference_bar_time if provenance else None,
        bar_size=(provenance.bar_size if provenance else strategy.bar_size).value,
        atr=provenance.atr if provenance else None,
        use_rth=strategy.use_rth,
        what_to_show=strategy.what_to_show,
        occurred_at=event.occurred_at,
    )
