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

``endpoints.json`` never holds a password: a URL that carries one (an external database's
DSN) is written there with its password masked, and in full only to
``endpoints.private.json``, a ``0600`` file beside it that the commands read it back from.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import SecretStr

from tradelane.runtime.bus_credentials import NatsCredentials, credentials_for, credentials_path
from tradelane.runtime.bus_permissions import OPERATOR
from tradelane.runtime.private_files import write_private_file
from tradelane.runtime.redaction import MASK, redact, url_passwords
from tradelane.runtime.settings import Settings

ENDPOINTS_FILE = "endpoints.json"
PRIVATE_ENDPOINTS_FILE = "endpoints.private.json"
URL_FIELDS = ("nats_url", "database_url")


@dataclass(frozen=True)
class Endpoint:
    """One server URL and where it came from (said in connection errors)."""

    url: str = field(repr=False)
    """The URL to connect with; it may hold a password, so show :attr:`shown` instead."""
    source: str

    @property
    def shown(self) -> str:
        """The URL with its password masked: what messages print."""
        return redact(self.url)


@dataclass(frozen=True)
class Endpoints:
    nats: Endpoint
    database: Endpoint
    gateway_url: str | None = None
    nats_credentials: NatsCredentials | None = None
    """Who the CLI connects to NATS as; None: anonymously (a server without users)."""


def endpoints_path(state_dir: Path) -> Path:
    return state_dir / ENDPOINTS_FILE


def private_endpoints_path(state_dir: Path) -> Path:
    return state_dir / PRIVATE_ENDPOINTS_FILE


def write_endpoints(state_dir: Path, *, nats_url: str, database_url: SecretStr | str, gateway_url: str) -> Path:
    """Record the URLs ``tradelane up`` serves on, for the other commands; returns the public file.

    URLs with a password go in full to the ``0600`` private file only; the public file shows
    them masked. Both files are ``0600`` (the state directory itself is private).
    """
    urls = {
        "nats_url": nats_url,
        "database_url": database_url.get_secret_value() if isinstance(database_url, SecretStr) else database_url,
    }
    pid = os.getpid()
    with_passwords = {name: url for name, url in urls.items() if url_passwords(url)}
    private = private_endpoints_path(state_dir)
    if with_passwords:
        write_private_file(private, json.dumps({**with_passwords, "pid": pid}, indent=2) + "\n")
    else:
        private.unlink(missing_ok=True)
    shown = {name: redact(url) for name, url in urls.items()}
    body = {**shown, "gateway_url": gateway_url, "pid": pid}
    return write_private_file(endpoints_path(state_dir), json.dumps(body, indent=2) + "\n")


def remove_endpoints(state_dir: Path) -> None:
    """Remove the files if this process wrote them (another ``tradelane up`` may have taken over)."""
    for path in (endpoints_path(state_dir), private_endpoints_path(state_dir)):
        with contextlib.suppress(FileNotFoundError, ValueError):
            if json.loads(path.read_text(encoding="utf-8")).get("pid") == os.getpid():
                path.unlink()


def _read(path: Path) -> dict[str, object]:
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):  # missing, or not readable by this user
        return {}
    return body if isinstance(body, dict) else {}


def _written(state_dir: Path) -> dict[str, str]:
    """What ``tradelane up`` wrote, each URL in full when the private file (of the same run) holds it."""
    public = _read(endpoints_path(state_dir))
    private = _read(private_endpoints_path(state_dir))
    if private.get("pid") != public.get("pid"):
        private = {}
    merged = {**public, **{name: private[name] for name in URL_FIELDS if name in private}}
    return {key: value for key, value in merged.items() if isinstance(value, str)}


def _plain(value: object) -> str:
    return value.get_secret_value() if isinstance(value, SecretStr) else str(value)


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

    def pick(flag: str | None, name: str, variable: str) -> Endpoint:
        if flag:
            return Endpoint(flag, f"--{name.replace('_', '-')}")
        if name in settings.model_fields_set:
            return Endpoint(_plain(getattr(settings, name)), variable)
        if name in written:
            if MASK not in url_passwords(written[name]):
                return Endpoint(written[name], file_source)
            private = private_endpoints_path(settings.state_dir)
            return Endpoint(
                written[name], f"{file_source}; its password is only in {private}, unreadable here: set {variable}"
            )
        return Endpoint(_plain(getattr(settings, name)), f"the default (set {variable} or --{name.replace('_', '-')})")

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
