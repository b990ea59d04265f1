"""``/dead-letters``: the messages a step gave up on, with why, and redriving one or all of them.

The list and both redrives are ``GET /api/dlq``, ``POST /api/dlq/{id}/redrive`` and
``POST /api/dlq/redrive-all`` called as functions; a redriven signal never places an order
from here (the API's default). Each action answers with the list again and what it did.
"""

from __future__ import annotations

from typing import Final

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse

from tradelane.gateway.deps import Caller, State
from tradelane.gateway.routes import dlq
from tradelane.gateway.routes.dlq import DeadLetterId
from tradelane.gateway.ui.templating import render
from tradelane.gateway.ui.viewer import SignedIn, Viewer

router = APIRouter(include_in_schema=False)

LISTED: Final = 200


async def _list(
    request: Request, viewer: Viewer, state: State, message: str = "", *, failed: bool = False, page: bool = False
) -> HTMLResponse:
    try:
        dead_letters = await dlq.list_all(state, limit=LISTED)
        problem = ""
    except HTTPException as error:
        dead_letters, problem = [], str(error.detail)
    context = {
        "viewer": viewer,
        "page": "dead-letters",
        "dead_letters": dead_letters,
        "listed": LISTED,
        "problem": problem,
        "message": message,
        "failed": failed,
    }
    return render(request, "dead_letters.html" if page else "_dead_letters.html", context)


@router.get("/dead-letters")
async def dead_letters_page(request: Request, viewer: SignedIn, state: State) -> HTMLResponse:
    return await _list(request, viewer, state, page=True)


@router.post("/dead-letters/{dead_letter_id}/redrive")
async def redrive_one(
    request: Request, dead_letter_id: DeadLetterId, viewer: SignedIn, state: State, caller: Caller
) -> HTMLResponse:
    """As ``POST /api/dlq/{id}/redrive`` (no orders): the list again, without it."""
    try:
        redriven = await dlq.redrive_one(dead_letter_id, state, caller, place_orders=False)
    except HTTPException as error:
        return await _list(
            request, viewer, state, f"Dead letter {dead_letter_id} not redriven: {error.detail}", failed=True
        )
    return await _list(
        request,
        viewer,
        state,
        f"Dead letter {redriven.id} sent again on {redriven.subject} ({redriven.stream} #{redriven.sequence}).",
    )


@router.post("/dead-letters/redrive-all")
async def redrive_all(request: Request, viewer: SignedIn, state: State) -> HTMLResponse:
    """As ``POST /api/dlq/redrive-all``: one batch, oldest first; those refused are named."""
    try:
        result = await dlq.redrive_all(state)
    except HTTPException as error:
        return await _list(request, viewer, state, f"Not redriven: {error.detail}", failed=True)
    refused = "; ".join(f"{item.id}: {item.error}" for item in result.not_redriven)
    message = (
        f"{len(result.redriven)} sent again, {result.remaining} still waiting"
        + (f" (refused: {refused})" if refused else "")
        + "."
    )
    return await _list(request, viewer, state, message, failed=bool(refused))
