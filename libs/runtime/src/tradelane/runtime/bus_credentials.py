"""NATS credentials: generated once per installation, each process connecting as its own identity.

``tradelane up`` (and the test fixtures) keep every identity's password in one JSON file in
the state directory (``nats-credentials.json``, mode 0600 in a 0700 directory), generated on
first start, and render the embedded server's users from it. Each service process then gets
only its own user and password (``TRADELANE_NATS_USER`` / ``TRADELANE_NATS_PASSWORD``); the
CLI reads the file, as the ``operator`` (or ``provision``) identity. Passwords are random
(256 bits), so the server compares them in plain text: bcrypt would protect the copy in the
server config, which is as readable as this file.
"""

from __future__ import annotations

import contextlib
import json
import secrets
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import nats
from faststream.security import SASLPlaintext
from nats.aio.client import Client as NatsClient
from pydantic import SecretStr

from tradelane.runtime.bus_permissions import IDENTITIES, PROVISION, inbox_prefix, password_variable
from tradelane.runtime.private_files import make_private_dir, write_private_file
from tradelane.runtime.settings import Settings

CREDENTIALS_FILE: Final = "nats-credentials.json"
_PASSWORD_BYTES: Final = 32


class CredentialsError(Exception):
    """The credentials asked for are not where the settings say."""


@dataclass(frozen=True)
class NatsCredentials:
    """One NATS user and its password (never printed: ``SecretStr``)."""

    user: str
    password: SecretStr

    def connect_options(self) -> dict[str, Any]:
        """Keyword arguments of ``nats.connect``: the user, and its own inbox prefix."""
        return {
            "user": self.user,
            "password": self.password.get_secret_value(),
            "inbox_prefix": inbox_prefix(self.user),
        }

    def broker_options(self) -> dict[str, Any]:
        """Keyword arguments of FastStream's ``NatsBroker``, which takes the user as ``security``."""
        return {
            "security": SASLPlaintext(username=self.user, password=self.password.get_secret_value()),
            "inbox_prefix": inbox_prefix(self.user),
        }


def credentials_path(state_dir: Path) -> Path:
    """Where ``tradelane up`` keeps the NATS passwords."""
    return state_dir / CREDENTIALS_FILE


def load_or_create_credentials(path: Path, identities: Iterable[str] = IDENTITIES) -> dict[str, SecretStr]:
    """Every identity's password from ``path``, generating (and saving) those that are missing.

    The directory is made private (0700) and the file is written 0600, atomically.
    """
    make_private_dir(path.parent)
    stored = _read(path) if path.exists() else {}
    missing = [identity for identity in identities if identity not in stored]
    if missing:
        stored.update({identity: secrets.token_urlsafe(_PASSWORD_BYTES) for identity in missing})
        write_private_file(path, json.dumps(stored, indent=2) + "\n")
    return {identity: SecretStr(password) for identity, password in stored.items()}


def _read(path: Path) -> dict[str, str]:
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as error:
        msg = f"{path} is not a JSON object of NATS passwords: {error}"
        raise CredentialsError(msg) from error
    if not isinstance(body, dict) or not all(isinstance(value, str) for value in body.values()):
        msg = f"{path} is not a JSON object of identity -> password strings"
        raise CredentialsError(msg)
    return {str(key): str(value) for key, value in body.items()}


def credentials_for(settings: Settings, identity: str) -> NatsCredentials | None:
    """How a process acting as ``identity`` connects; None: anonymously (a server without users).

    ``TRADELANE_NATS_USER`` / ``TRADELANE_NATS_PASSWORD`` name this process's one identity
    (production: one per container). Without them, ``nats_credentials_file`` holds every
    identity's password and ``identity`` picks the entry (``tradelane up``'s CLI, the tests).
    """
    if settings.nats_user is not None:
        return NatsCredentials(settings.nats_user, settings.nats_password or SecretStr(""))
    if settings.nats_credentials_file is None:
        return None
    found = _read(settings.nats_credentials_file) if settings.nats_credentials_file.exists() else {}
    if identity not in found:
        msg = f"no NATS password for identity {identity!r} in {settings.nats_credentials_file}"
        raise CredentialsError(msg)
    return NatsCredentials(identity, SecretStr(found[identity]))


def provision_credentials(settings: Settings) -> NatsCredentials | None:
    """The ``provision`` identity when this process holds it, else None."""
    if settings.nats_user is not None:
        return credentials_for(settings, PROVISION) if settings.nats_user == PROVISION else None
    if settings.nats_credentials_file is None or not settings.nats_credentials_file.exists():
        return None
    return credentials_for(settings, PROVISION) if PROVISION in _read(settings.nats_credentials_file) else None


def authenticates(settings: Settings) -> bool:
    """Whether this process connects with a user at all (else the server must allow anonymous clients)."""
    return settings.nats_user is not None or settings.nats_credentials_file is not None


@contextlib.asynccontextmanager
async def connected(settings: Settings, credentials: NatsCredentials | None, name: str) -> AsyncIterator[NatsClient]:
    """A short-lived nats-py connection as ``credentials`` (provisioning, the first run of ``up``)."""
    options = credentials.connect_options() if credentials is not None else {}
    client = await nats.connect(settings.nats_url.split(","), name=f"tradelane-{name}", **options)
    try:
        yield client
    finally:
        await client.close()


def env_lines(identities: Iterable[str] = IDENTITIES) -> list[str]:
    """Fresh random passwords as ``TRADELANE_NATS_PASSWORD_<IDENTITY>=...`` lines (for Docker Compose's .env)."""
    return [f"{password_variable(identity)}={secrets.token_urlsafe(_PASSWORD_BYTES)}" for identity in identities]


if __name__ == "__main__":
    # `python -m tradelane.runtime.bus_credentials >> .env`: what `make compose-up` runs once
    print("\n".join(env_lines()))  # noqa: T201 - the command's output
