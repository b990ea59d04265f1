"""``/api/system``: how the running system is set up, as the services themselves report it.

``/api/system/notifications`` asks the notifier over NATS (``tradelane.notifier.settings``)
rather than reading its environment: the gateway and the notifier deploy apart, and only the
notifier knows the URLs it was given. It reports them with their secrets masked.
"""

from __future__ import annotations

from typing import Final

from fastapi import APIRouter, HTTPException, status

from tradelane.contracts import subjects
from tradelane.contracts.envelope import Contract
from tradelane.contracts.notifications import NotificationSettings
from tradelane.gateway.deps import State
from tradelane.gateway.errors import BUS_UNAVAILABLE
from tradelane.gateway.requests import ServiceDidNotAnswerError, ask_service

router = APIRouter(prefix="/api/system", tags=["system"])

NOTIFIER_SECONDS: Final = 5.0
"""How long the notifier has to answer: it answers from memory, so this is plenty."""


@router.get("/notifications", summary="The notifier's settings", responses=BUS_UNAVAILABLE)
async def notifications(state: State) -> NotificationSettings:
    """Where notifications go (Apprise URLs with their secrets masked), which kinds are sent, and when too late.

    503 when no notifier runs to answer, or when it does not answer in time.
    """
    try:
        return await ask_service(
            state, "notifier", subjects.NOTIFIER_SETTINGS, Contract(), NotificationSettings, NOTIFIER_SECONDS
        )
    except ServiceDidNotAnswerError as error:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            f"{error}; check that it runs (tradelane status) and retry",
        ) from error
