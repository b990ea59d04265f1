"""``/api/tokens``: list, create and revoke API tokens (admin)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, Field

from tradelane.contracts.envelope import utc_now
from tradelane.gateway.deps import Caller, State
from tradelane.gateway.errors import CONFLICT, NOT_FOUND
from tradelane.store.auth import MAX_LIFETIME_DAYS, TOKEN_NAME_PATTERN, Scope, TokenNameTakenError, TokenRecord

router = APIRouter(prefix="/api/tokens", tags=["tokens"])

TokenName = Annotated[str, Field(pattern=TOKEN_NAME_PATTERN, examples=["grafana-read"])]


class TokenIn(BaseModel):
    name: TokenName
    scope: Scope = Field(description="read < operate < trade < admin; each includes those before it.")
    expires_in_days: int | None = Field(
        default=None, ge=1, le=MAX_LIFETIME_DAYS, description="Lifetime in days; none: until revoked."
    )


class TokenOut(BaseModel):
    """A token as stored; its secret is never shown again after creation."""

    id: UUID
    name: str
    scope: Scope
    created_by: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None

    @classmethod
    def of(cls, token: TokenRecord) -> TokenOut:
        return cls.model_validate(token, from_attributes=True)


class IssuedTokenOut(TokenOut):
    token: str = Field(description="The secret, shown this once: store it now.")


@router.get("", summary="List API tokens")
async def list_tokens(state: State, include_revoked: bool = True) -> list[TokenOut]:
    """Every token, oldest first, with when each was last used; never their secrets."""
    return [TokenOut.of(token) for token in await state.tokens.list(include_revoked=include_revoked)]


@router.post("", status_code=status.HTTP_201_CREATED, summary="Create an API token", responses=CONFLICT)
async def create_token(body: TokenIn, state: State, caller: Caller) -> IssuedTokenOut:
    """A new token; the answer holds its secret, which cannot be read again."""
    expires_at = utc_now() + timedelta(days=body.expires_in_days) if body.expires_in_days else None
    try:
        issued = await state.tokens.create(
            body.name, body.scope, created_by=f"api:{caller.token.name}", expires_at=expires_at
        )
    except TokenNameTakenError as error:
        raise HTTPException(status.HTTP_409_CONFLICT, str(error)) from error
    return IssuedTokenOut(**TokenOut.of(issued.record).model_dump(), token=issued.secret)


@router.delete("/{token_id}", summary="Revoke an API token", responses=NOT_FOUND)
async def revoke_token(token_id: UUID, state: State) -> TokenOut:
    """Revoke at once: the token and every web UI session opened with it stop working."""
    revoked = await state.tokens.revoke(token_id)
    if revoked is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, f"no live token with id {token_id}; list them with GET /api/tokens"
        )
    return TokenOut.of(revoked)
