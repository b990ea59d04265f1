"""Step 6: turn the analysis into a signal, or reject it naming the rule it broke."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from tradelane.contracts.events import AnalysisCompleted, SignalGenerated, SignalRejected
from tradelane.signals.guards import SignalGuards
from tradelane.signals.provenance import provenance_of
from tradelane.signals.rules import Accepted, atr_of, decide


class SignalMaker:
    """Applies the signal rules with their guardrails and a clock (injected so tests can fix the time)."""

    def __init__(
        self,
        guards: SignalGuards | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._guards = guards or SignalGuards()
        self._clock = clock

    async def on_analysis_completed(self, msg: AnalysisCompleted) -> SignalGenerated | SignalRejected:
        decision = decide(msg.analysis, msg.snapshot, msg.strategy.risk, msg.point_in_time(self._clock()), self._guards)
        provenance = provenance_of(msg, atr_of(msg.snapshot)[0])
        if isinstance(decision, Accepted):
            return msg.follow(
                SignalGenerated,
                strategy=msg.strategy,
                signal=decision.signal,
                analysis=msg.analysis,
                provenance=provenance,
            )
        return msg.follow(
            SignalRejected,
            strategy=msg.strategy,
            rule=decision.rule,
            reason=decision.reason,
            candidate=decision.candidate,
            analysis=msg.analysis,
            provenance=provenance,
        )
