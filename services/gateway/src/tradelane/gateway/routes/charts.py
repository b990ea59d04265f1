"""``/api/charts``: chart artefacts (PNG or Plotly figure JSON) from the Object Store."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Response, status
from nats.js.errors import NotFoundError

from tradelane.contracts.market import ObjectRef
from tradelane.contracts.subjects import CHART_BUCKET, KEPT_CHART_BUCKET
from tradelane.gateway.charts import artefact_media_type
from tradelane.gateway.deps import Bus
from tradelane.gateway.schemas import ErrorOut
from tradelane.runtime.bus import EventBus

router = APIRouter(prefix="/api/charts", tags=["charts"])

Sha256 = Annotated[
    str,
    Path(pattern=r"^[0-9a-fA-F]{64}$", description="sha256 of the artefact, 64 hex characters."),
]


@router.get(
    "/{sha256}",
    summary="Get a chart artefact",
    response_class=Response,
    responses={
        status.HTTP_200_OK: {
            "content": {"image/png": {}, "application/json": {}},
            "description": "The PNG, or the Plotly figure JSON.",
        },
        status.HTTP_404_NOT_FOUND: {"model": ErrorOut},
    },
)
async def get_chart(sha256: Sha256, bus: Bus) -> Response:
    """The bytes stored under ``sha256``; they never change, so a browser may keep them (privately).

    A chart expires from the ``charts`` bucket with the replay window; the chart a signal was made
    from is kept for good in ``kept-charts`` (the ledger copies it), where it is looked up next.
    """
    name = sha256.lower()
    data = await _chart(bus, CHART_BUCKET, name)
    if data is None:
        data = await _chart(bus, KEPT_CHART_BUCKET, name)
    if data is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            f"no chart {name} in the object store; it may have expired with the replay window "
            "(only the charts signals were made from are kept longer)",
        )
    return Response(
        content=data,
        media_type=artefact_media_type(data),
        headers={"Cache-Control": "private, max-age=31536000, immutable"},
    )


async def _chart(bus: EventBus, bucket: str, name: str) -> bytes | None:
    ref = ObjectRef(bucket=bucket, name=name, size=0, content_type="application/octet-stream")
    try:
        return await bus.get_object(ref)
    except NotFoundError:
        return None
