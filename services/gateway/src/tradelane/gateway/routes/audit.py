"""``/api/audit``: search the audit trail of changes (admin)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel

from tradelane.gateway.deps import State
from tradelane.store.audit import AuditFilter, AuditRecord
from tradelane.store.auth import TOKEN_NAME_PATTERN

router = APIRouter(prefix="/api/audit", tags=["audit"])

MAX_AUDIT_ROWS = 1000


class AuditOut(BaseModel):
    """One state-changing request (or a token created or revoked by the CLI) and its outcome."""

    id: int
    at: datetime
    token_name: str | None
    scope: str | None
    method: str
    path: str
    body_sha256: str | None
    summary: str
    status: int
    client: str | None

    @classmethod
    def of(cls, record: AuditRecord) -> AuditOut:
        return cls.model_validate(record, from_attributes=True)


def _aware(moment: datetime | None) -> datetime | None:
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


def _statuses(outcome: str | None) -> tuple[int | None, int | None]:
    """``4xx`` is 400 to 499; ``403`` is 403 alone."""
    if outcome is None:
        return None, None
    if outcome.endswith("xx"):
        low = int(outcome[0]) * 100
        return low, low + 99
    return int(outcome), int(outcome)


@router.get("", summary="Search the audit trail")
async def search_audit(
    state: State,
    since: Annotated[datetime | None, Query(description="From this moment on (naive means UTC).")] = None,
    until: Annotated[datetime | None, Query(description="Before this moment.")] = None,
    token: Annotated[str | None, Query(pattern=TOKEN_NAME_PATTERN, description="Token name.")] = None,
    path_prefix: Annotated[
        str | None, Query(max_length=500, pattern=r"^/[^\x00-\x1f]*$", description="e.g. /api/risk")
    ] = None,
    method: Literal["POST", "PUT", "PATCH", "DELETE", "CLI"] | None = None,
    outcome: Annotated[
        str | None, Query(pattern=r"^[1-5]([0-9]{2}|xx)$", description="A status (403) or a class (4xx).")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_AUDIT_ROWS)] = 100,
) -> list[AuditOut]:
    """Newest first. Rows written by the ``tradelane`` command (tokens created or revoked) have method ``CLI``."""
    status_from, status_to = _statuses(outcome)
    where = AuditFilter(
        since=_aware(since),
        until=_aware(until),
        token_name=token,
        path_prefix=path_prefix,
        method=method,
        status_from=status_from,
        status_to=status_to,
    )
    return [AuditOut.of(record) for record in await state.audit.search(where, limit=limit)]
