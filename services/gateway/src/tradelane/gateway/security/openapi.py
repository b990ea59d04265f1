"""The OpenAPI document says how to authenticate and which scope each operation needs.

It declares the bearer scheme, marks public operations with ``security: []``, adds the scope
to each operation (``x-required-scope`` and a sentence in its description), and documents the
answers the security layers may give: 401 and 403 where a token is needed, 413 where there is
a body.
"""

from __future__ import annotations

from typing import Any, Final

from fastapi import FastAPI

from tradelane.gateway.security.policy import required_scope

BEARER: Final = "bearerToken"
_ERROR: Final = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}}
_ANSWERS: Final = {
    "401": "No token, or one that is unknown, revoked or expired.",
    "403": "The token's scope is too small (the answer names the scope needed), or a cross-site change.",
    "413": "The body is over the gateway's limit.",
}


def _document(schema: dict[str, Any]) -> None:
    components = schema.setdefault("components", {})
    components.setdefault("securitySchemes", {})[BEARER] = {
        "type": "http",
        "scheme": "bearer",
        "description": "An API token (`tl_...`): `tradelane tokens create --name NAME --scope SCOPE` prints one.",
    }
    components.setdefault("schemas", {}).setdefault(
        "ErrorOut",
        {"type": "object", "properties": {"detail": {"type": "string"}}, "required": ["detail"]},
    )
    schema["security"] = [{BEARER: []}]
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            needed = required_scope(method.upper(), path)
            responses = operation.setdefault("responses", {})
            if needed is None:
                operation["security"] = []
            else:
                operation["x-required-scope"] = needed.value
                note = f"Needs a token with scope `{needed}` or above."
                operation["description"] = f"{operation.get('description', '').rstrip()}\n\n{note}".lstrip()
                for code in ("401", "403"):
                    responses.setdefault(code, {"description": _ANSWERS[code], "content": _ERROR})
            if "requestBody" in operation:
                responses.setdefault("413", {"description": _ANSWERS["413"], "content": _ERROR})


def document_security(app: FastAPI) -> None:
    """Make ``app.openapi()`` include the security scheme and the scope of every operation."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            _document(build())
        assert app.openapi_schema is not None
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to extend the schema
