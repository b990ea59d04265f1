"""Settings of the gateway: the shared ones plus where the HTTP server listens."""

from __future__ import annotations

from pydantic import Field

from tradelane.runtime.settings import PromptRenderSettings


class GatewaySettings(PromptRenderSettings):
    """``TRADELANE_GATEWAY_HOST`` / ``TRADELANE_GATEWAY_PORT`` on top of the shared and prompt render settings."""

    gateway_host: str = Field(default="127.0.0.1", description="Interface the HTTP server binds.")
    gateway_port: int = Field(default=8000, ge=1, le=65535, description="Port of the REST API and web UI.")
