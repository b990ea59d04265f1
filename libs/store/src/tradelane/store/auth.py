"""API tokens and web UI sessions (schema ``auth``).

A token's secret is ``tl_`` followed by 32 random bytes (URL-safe base64): 256 bits, so a
plain SHA-256 is enough to store it (no salt or slow hash is needed against guessing; those
protect low-entropy passwords). Only the hash is stored; the secret is returned once, by
:meth:`TokenRepository.create`. Sessions are stored the same way: the cookie carries a
random id and the table holds its hash.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Final
from uuid import UUID, uuid4

import asyncpg

TOKEN_PREFIX: Final = "tl_"  # noqa: S105 - a prefix that marks tradelane tokens, not a secret
_SECRET_BYTES: Final = 32
TOKEN_NAME_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9._@:-]{0,99}$"  # noqa: S105 - a pattern, not a secret
"""A token's name: a letter or digit, then up to 99 of those or ``. _ @ : -``."""
MAX_LIFETIME_DAYS: Final = 3650
TOUCH_INTERVAL: Final = timedelta(minutes=1)
"""``last_used_at`` is written at most this often per token, not on every request."""


class Scope(StrEnum):
    """What a token may do; each scope includes every scope before it (read < operate < trade < admin)."""

    READ = "read"
    OPERATE = "operate"
    TRADE = "trade"
    ADMIN = "admin"

    def covers(self, needed: Scope) -> bool:
        """Whether a token of this scope may do what ``needed`` allows."""
        order = list(Scope)
        return order.index(self) >= order.index(needed)


def sha256_hex(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_secret(prefix: str = "") -> str:
    return prefix + secrets.token_urlsafe(_SECRET_BYTES)


class TokenNameTakenError(ValueError):
    """A live (unrevoked) token already has this name."""

    def __init__(self, name: str) -> None:
        super().__init__(f"a live token named {name!r} already exists; choose another name or revoke that one first")
        self.name = name


@dataclass(frozen=True)
class TokenRecord:
    """A token as stored (never its secret)."""

    id: UUID
    name: str
    scope: Scope
    created_by: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None

    def problem(self, now: datetime) -> str | None:
        """Why this token cannot be used at ``now`` (revoked or expired), or None when it can."""
        if self.revoked_at is not None:
            return f"token {self.name!r} was revoked at {self.revoked_at.isoformat()}"
        if self.expires_at is not None and self.expires_at <= now:
            return f"token {self.name!r} expired at {self.expires_at.isoformat()}"
        return None


@dataclass(frozen=True)
class IssuedToken:
    """A token just created: its record, and its secret, which is never shown again."""

    record: TokenRecord
    secret: str


_COLUMNS = "id, name, scope, created_by, created_at, expires_at, revoked_at, last_used_at"


def _token(row: asyncpg.Record, prefix: str = "") -> TokenRecord:
    return TokenRecord(
        id=row[f"{prefix}id"],
        name=row[f"{prefix}name"],
        scope=Scope(row[f"{prefix}scope"]),
        created_by=row[f"{prefix}created_by"],
        created_at=row[f"{prefix}created_at"],
        expires_at=row[f"{prefix}expires_at"],
        revoked_at=row[f"{prefix}revoked_at"],
        last_used_at=row[f"{prefix}last_used_at"],
    )


class TokenRepository:
    """Reads and writes ``auth.tokens``."""

    def __init__(self, pool: asyncpg.Pool[Any]) -> None:
        self._pool = pool

    async def create(
        self, name: str, scope: Scope, *, created_by: str, expires_at: datetime | None = None
    ) -> IssuedToken:
        """A new token; raises :class:`TokenNameTakenError` when a live token has the name."""
        secret = new_secret(TOKEN_PREFIX)
        try:
            row = await self._pool.fetchrow(
                f"INSERT INTO auth.tokens (id, name, scope, secret_sha256, created_by, expires_at)"
                f" VALUES ($1, $2, $3, $4, $5, $6) RETURNING {_COLUMNS}",
                uuid4(),
                name,
                scope.value,
                sha256_hex(secret),
                created_by,
                expires_at,
            )
        except asyncpg.UniqueViolationError as error:
            raise TokenNameTakenError(name) from error
        assert row is not None
        return IssuedToken(_token(row), secret)

    async def find(self, secret: str) -> TokenRecord | None:
        """The token whose secret this is (live or not), or None.

        The lookup is by the secret's hash, so an index search cannot leak anything useful
        through its timing (an attacker cannot choose hash prefixes); the final comparison is
        constant-time all the same.
        """
        digest = sha256_hex(secret)
        row = await self._pool.fetchrow(
            f"SELECT {_COLUMNS}, secret_sha256 FROM auth.tokens WHERE secret_sha256 = $1", digest
        )
        if row is None or not hmac.compare_digest(row["secret_sha256"], digest):
            return None
        return _token(row)

    async def get(self, token_id: UUID) -> TokenRecord | None:
        row = await self._pool.fetchrow(f"SELECT {_COLUMNS} FROM auth.tokens WHERE id = $1", token_id)
        return _token(row) if row else None

    async def live_by_name(self, name: str) -> TokenRecord | None:
        """The unrevoked token of this name (there is at most one)."""
        row = await self._pool.fetchrow(
            f"SELECT {_COLUMNS} FROM auth.tokens WHERE name = $1 AND revoked_at IS NULL", name
        )
        return _token(row) if row else None

    async def list(self, *, include_revoked: bool = True) -> list[TokenRecord]:
        """Every token, oldest first."""
        where = "" if include_revoked else " WHERE revoked_at IS NULL"
        rows = await self._pool.fetch(f"SELECT {_COLUMNS} FROM auth.tokens{where} ORDER BY created_at, name")
        return [_token(row) for row in rows]

    async def revoke(self, token_id: UUID) -> TokenRecord | None:
        """Revoke the token (its sessions end with it); None when no live token has this id."""
        async with self._pool.acquire() as connection, connection.transaction():
            row = await connection.fetchrow(
                f"UPDATE auth.tokens SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL RETURNING {_COLUMNS}",
                token_id,
            )
            await connection.execute("DELETE FROM auth.sessions WHERE token_id = $1", token_id)
        return _token(row) if row else None

    async def touch(self, token_id: UUID) -> None:
        """Record a use, unless one was recorded within :data:`TOUCH_INTERVAL` (to spare a write per request)."""
        await self._pool.execute(
            "UPDATE auth.tokens SET last_used_at = now()"
            " WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < now() - $2::interval)",
            token_id,
            TOUCH_INTERVAL,
        )


@dataclass(frozen=True)
class SessionRecord:
    """A web UI session: whose token it stands for, its CSRF token, until when it lasts."""

    token: TokenRecord
    csrf_token: str
    expires_at: datetime


@dataclass(frozen=True)
class OpenedSession:
    """A session just opened: its record and the cookie value (the id, stored only hashed)."""

    record: SessionRecord
    session_id: str


class SessionRepository:
    """Reads and writes ``auth.sessions``."""

    def __init__(self, pool: asyncpg.Pool[Any]) -> None:
        self._pool = pool

    async def open(self, token: TokenRecord, *, now: datetime, lifetime: timedelta) -> OpenedSession:
        """A new session for ``token``, ending after ``lifetime`` or when the token expires, whichever is first.

        Sessions that have ended are deleted on the way, so the table does not grow.
        """
        expires_at = now + lifetime
        if token.expires_at is not None:
            expires_at = min(expires_at, token.expires_at)
        session_id, csrf_token = new_secret(), new_secret()
        async with self._pool.acquire() as connection, connection.transaction():
            await connection.execute("DELETE FROM auth.sessions WHERE expires_at <= $1", now)
            await connection.execute(
                "INSERT INTO auth.sessions (id_sha256, token_id, csrf_token, expires_at) VALUES ($1, $2, $3, $4)",
                sha256_hex(session_id),
                token.id,
                csrf_token,
                expires_at,
            )
        return OpenedSession(SessionRecord(token, csrf_token, expires_at), session_id)

    async def find(self, session_id: str, *, now: datetime) -> SessionRecord | None:
        """The session this cookie value opens, with its token, if it has not ended (the token is not checked)."""
        digest = sha256_hex(session_id)
        token_columns = ", ".join(f"t.{column} AS t_{column}" for column in _COLUMNS.split(", "))
        row = await self._pool.fetchrow(
            f"SELECT s.id_sha256, s.csrf_token, s.expires_at, {token_columns}"
            " FROM auth.sessions s JOIN auth.tokens t ON t.id = s.token_id"
            " WHERE s.id_sha256 = $1 AND s.expires_at > $2",
            digest,
            now,
        )
        if row is None or not hmac.compare_digest(row["id_sha256"], digest):
            return None
        return SessionRecord(_token(row, "t_"), row["csrf_token"], row["expires_at"])

    async def close(self, session_id: str) -> bool:
        """End the session; False when there was none."""
        result = await self._pool.execute("DELETE FROM auth.sessions WHERE id_sha256 = $1", sha256_hex(session_id))
        return result != "DELETE 0"
