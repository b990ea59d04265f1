"""Wiring of the signals service."""

from __future__ import annotations

from tradelane.contracts.subjects import Step
from tradelane.runtime.service import Service
from tradelane.runtime.settings import Settings
from tradelane.signals.handlers import SignalMaker


def build(settings: Settings | None = None) -> Service:
    service = Service("signals", settings or Settings())
    service.step(Step.SIGNAL)(SignalMaker().on_analysis_completed)
    return service
