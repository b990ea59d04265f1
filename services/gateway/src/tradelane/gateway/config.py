"""Settings of the gateway: the shared ones plus where the HTTP server listens and what it accepts."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import NoDecode

from tradelane.runtime.bus_status import HEALTH_WINDOW_SECONDS
from tradelane.runtime.settings import PromptRenderSettings

MIB = 1024 * 1024


class GatewaySettings(PromptRenderSettings):
    """``TRADELANE_GATEWAY_*`` on top of the shared and prompt render settings."""

    gateway_host: str = Field(default="127.0.0.1", description="Interface the HTTP server binds.")
    gateway_port: int = Field(default=8000, ge=1, le=65535, description="Port of the REST API and web UI.")
    gateway_allowed_hosts: Annotated[tuple[str, ...], NoDecode] = Field(
        default=("127.0.0.1", "localhost"),
        min_length=1,
        description="Host names (any port) requests may be addressed to, comma separated; '*.example.com' "
        "matches subdomains. Others get a 400, which also defeats DNS rebinding.",
    )
    gateway_max_body_bytes: int = Field(
        default=MIB, ge=1024, description="Largest request body accepted; larger ones get a 413."
    )
    gateway_session_hours: float = Field(
        default=12, gt=0, le=24 * 30, description="How long a web UI login lasts (never beyond its token's expiry)."
    )
    gateway_health_window_seconds: float = Field(
        default=HEALTH_WINDOW_SECONDS,
        gt=0,
        le=10,
        description="How long the services' health (API, system page, dashboard) gathers the processes' replies.",
    )

    @field_validator("gateway_allowed_hosts", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip().lower() for part in value.split(",") if part.strip())
        return value
