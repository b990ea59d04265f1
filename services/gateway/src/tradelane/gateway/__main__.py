"""``python -m tradelane.gateway``: serve the REST API and web UI with uvicorn."""

from __future__ import annotations

import uvicorn

from tradelane.gateway.app import create_app
from tradelane.gateway.config import GatewaySettings
from tradelane.runtime.logging import configure_logging
from tradelane.runtime.redaction import register_settings_secrets

SHUTDOWN_GRACE_SECONDS = 5


def main() -> None:
    settings = GatewaySettings()
    register_settings_secrets(settings)
    configure_logging(settings.log_level, settings.log_format, settings.log_stream_level)
    uvicorn.run(
        create_app(settings),
        host=settings.gateway_host,
        port=settings.gateway_port,
        log_config=None,
        proxy_headers=True,
        # the web UI's live streams (SSE) stay open; a stop must not wait for them to end
        timeout_graceful_shutdown=SHUTDOWN_GRACE_SECONDS,
    )


if __name__ == "__main__":
    main()
