"""The order of the security layers around the app."""

from __future__ import annotations

from collections.abc import Iterable

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute

from tradelane.gateway.config import GatewaySettings
from tradelane.gateway.security.access import AccessMiddleware
from tradelane.gateway.security.audit import AuditMiddleware
from tradelane.gateway.security.body import BodyLimitMiddleware
from tradelane.gateway.security.headers import SecurityHeadersMiddleware
from tradelane.gateway.security.hosts import AllowedHostsMiddleware
from tradelane.gateway.security.openapi import document_security
from tradelane.gateway.security.origin import SameOriginMiddleware
from tradelane.gateway.security.policy import RoutePolicy


def declared_routes(app: FastAPI, routers: Iterable[APIRouter]) -> list[tuple[str, str]]:
    """(method, path) of every route ``routers`` declare, and of the OpenAPI document."""
    routes = [
        (method, route.path)
        for router in routers
        for route in router.routes
        if isinstance(route, APIRoute)
        for method in route.methods or ()
    ]
    if app.openapi_url:
        routes.append(("GET", app.openapi_url))
    return routes


def install(app: FastAPI, settings: GatewaySettings, routers: Iterable[APIRouter]) -> None:
    """Wrap ``app`` in the security layers; the first listed sees the request first.

    Headers go on every answer, even the refusals of the layers inside; a request for another
    host is dropped before anything is recorded; every state change that gets past the Host
    check is audited, including those the inner layers refuse; the body is bounded (and read
    for the audit) before the origin and token checks, which must answer before a route runs.
    Raises :class:`~.policy.UnlistedRouteError` when a route of ``routers`` is not in the policy.
    """
    policy = RoutePolicy(declared_routes(app, routers))
    app.state.route_policy = policy
    layers = [
        (SecurityHeadersMiddleware, {}),
        (AllowedHostsMiddleware, {"allowed": settings.gateway_allowed_hosts}),
        (AuditMiddleware, {}),
        (BodyLimitMiddleware, {"max_bytes": settings.gateway_max_body_bytes}),
        (SameOriginMiddleware, {}),
        (AccessMiddleware, {"policy": policy}),
    ]
    for layer, options in reversed(layers):
        app.add_middleware(layer, **options)  # type: ignore[arg-type]  # each is a plain ASGI middleware class
    document_security(app)
