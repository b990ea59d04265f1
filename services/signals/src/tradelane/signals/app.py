"""Wiring of the signals service."""

from __future__ import annotations

from tradelane.contracts.subjects import Step
from tradelane.runtime.service import Service
from tradelane.runtime.settings import Settings
from tradelane.signals.config import SignalsSettings
from tradelane.signals.handlers import SignalMaker


def build(settings: Settings | None = None) -> Service:
    """The signals service; shared settings are completed with the ``TRADELANE_SIGNAL_*`` ones from the environment."""
    signals_settings = SignalsSettings.model_validate(settings.model_dump()) if settings else SignalsSettings()
    service = Service("signals", signals_settings)
    service.step(Step.SIGNAL)(SignalMaker(signals_settings.guards).on_analysis_completed)
    return service
