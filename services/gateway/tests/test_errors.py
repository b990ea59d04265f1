"""Error answers never quote a secret, whatever the message they pass on."""

from __future__ import annotations

import json

from fastapi import HTTPException, Request

from tradelane.gateway.errors import redacted_http_error_handler
from tradelane.runtime.redaction import register_secret


async def test_an_error_message_quoting_a_dsn_or_a_registered_secret_is_answered_masked() -> None:
    register_secret("sk-gateway-test-key")
    error = HTTPException(
        503, "cannot reach postgresql://u:pw-1234@db/t with sk-gateway-test-key", {"Retry-After": "5"}
    )
    answer = await redacted_http_error_handler(Request({"type": "http", "method": "GET", "headers": []}), error)
    assert answer.status_code == 503 and answer.headers["retry-after"] == "5"
    assert json.loads(bytes(answer.body)) == {"detail": "cannot reach postgresql://u:***@db/t with ***"}
