"""What a service says about itself when asked on the bus (``subjects.HEALTH``)."""

from __future__ import annotations

from pydantic import AwareDatetime, Field

from tradelane.contracts.envelope import Contract


class HealthReport(Contract):
    """One service process's answer to a health request."""

    service: str = Field(description="Service name, e.g. 'indicators'.")
    version: str
    instance: str = Field(description="Host and process id, unique per replica.")
    started_at: AwareDatetime
    uptime_seconds: float = Field(ge=0)
    ready: bool = Field(description="Connected to NATS with its streams provisioned.")
    in_flight: int = Field(ge=0, description="Messages being handled right now.")
    handled: int = Field(ge=0, description="Messages handled since start.")
    failed: int = Field(ge=0, description="Messages given up on since start.")
