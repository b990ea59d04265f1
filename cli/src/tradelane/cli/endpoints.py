"""Where the CLI finds NATS and PostgreSQL: flags, then environment, then what ``tradelane up`` wrote.

The NATS credentials follow the same order: ``--nats-credentials FILE``, then
``TRADELANE_NATS_USER``/``TRADELANE_NATS_PASSWORD`` or ``TRADELANE_NATS_CREDENTIALS_FILE``, then
the ``nats-credentials.json`` that ``tradelane up`` keeps in the state directory; the CLI
connects as the ``operator`` identity (``tradelane provision`` as ``provision``).

``tradelane up`` in its default embedded mode puts NATS on a random free port and PostgreSQL
on a Unix socket in a temporary directory, so it writes the URLs it uses to
``<state_dir>/endpoints.json`` and removes the file when it stops. Every other command reads
that file when neither a flag nor ``TRADELANE_NATS_URL`` / ``TRADELANE_DATABASE_URL`` names a
server, so ``tradelane tail`` just works beside ``make run``.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from tradelane.runtime.bus_credentials import NatsCredentials, credentials_for, credentials_path
from tradelane.runtime.bus_permissions import OPERATOR
from tradelane.runtime.settings import Settings

ENDPOINTS_FILE = "endpoints.json"


@dataclass(frozen=True)
class Endpoint:
    """One server URL and where it came from (said in connection errors)."""

    url: str
    source: str


@dataclass(frozen=True)
class Endpoints:
    nats: Endpoint
    database: Endpoint
    gateway_url: str | None = None
    nats_credentials: NatsCredentials | None = None
    """Who the CLI connects to NATS as; None: anonymously (a server without users)."""


def endpoints_path(state_dir: Path) -> Path:
    return state_dir / ENDPOINTS_FILE


def write_endpoints(state_dir: Path, *, nats_url: str, database_url: str, gateway_url: str) -> Path:
    """Record the URLs ``tradelane up`` serves on, for the other commands; returns the file."""
    path = endpoints_path(state_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {"nats_url": nats_url, "database_url": database_url, "gateway_url": gateway_url, "pid": os.getpid()}
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")
    temporary.replace(path)
    return path


def remove_endpoints(state_dir: Path) -> None:
    """Remove the file if this process wrote it (another ``tradelane up`` may have taken over)."""
    path = endpoints_path(state_dir)
    with contextlib.suppress(FileNotFoundError, ValueError):
        if json.loads(path.read_text(encoding="utf-8")).get("pid") == os.getpid():
            path.unlink()


def _written(state_dir: Path) -> dict[str, str]:
    path = endpoints_path(state_dir)
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return {}
    return {key: value for key, value in body.items() if isinstance(value, str)} if isinstance(body, dict) else {}


def resolve_endpoints(
    settings: Settings,
    *,
    nats_url: str | None = None,
    database_url: str | None = None,
    nats_credentials: Path | None = None,
    identity: str = OPERATOR,
) -> Endpoints:
    """Each URL from its flag, else its environment variable, else ``endpoints.json``, else the default."""
    written = _written(settings.state_dir)
    file_source = f"{endpoints_path(settings.state_dir)} (written by `tradelane up`)"

    def pick(flag: str | None, field: str, variable: str) -> Endpoint:
        if flag:
            return Endpoint(flag, f"--{field.replace('_', '-')}")
        if field in settings.model_fields_set:
            return Endpoint(getattr(settings, field), variable)
        if field in written:
            return Endpoint(written[field], file_source)
        return Endpoint(getattr(settings, field), f"the default (set {variable} or --{field.replace('_', '-')})")

    return Endpoints(
        nats=pick(nats_url, "nats_url", "TRADELANE_NATS_URL"),
        database=pick(database_url, "database_url", "TRADELANE_DATABASE_URL"),
        gateway_url=written.get("gateway_url"),
        nats_credentials=_nats_credentials(settings, nats_credentials, identity),
    )


def _nats_credentials(settings: Settings, flag: Path | None, identity: str) -> NatsCredentials | None:
    if flag is not None:
        return credentials_for(settings.model_copy(update={"nats_credentials_file": flag, "nats_user": None}), identity)
    if settings.nats_user is not None or settings.nats_credentials_file is not None:
        return credentials_for(settings, identity)
    kept = credentials_path(settings.state_dir)
    return (
        credentials_for(settings.model_copy(update={"nats_credentials_file": kept}), identity)
        if kept.exists()
        else None
    )
