"""``/api/charts``: chart artefacts (PNG or Plotly figure JSON) from the Object Store."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Response, status
from nats.js.errors import NotFoundError

from tradelane.contracts.market import ObjectRef
from tradelane.contracts.subjects import CHART_BUCKET
from tradelane.gateway.charts import artefact_media_type
from tradelane.gateway.deps import Bus
from tradelane.gateway.schemas import ErrorOut

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
    """The bytes stored under ``sha256``; they never change, so a browser may keep them (privately)."""
    name = sha256.lower()
    ref = ObjectRef(bucket=CHART_BUCKET, name=name, size=0, content_type="application/octet-stream")
    try:
        data = await bus.get_object(ref)
    except NotFoundError as error:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            f"no chart {name} in the object store; it may have expired with the replay window",
        ) from error
    return Response(
        content=data,
        media_type=artefact_media_type(data),
        headers={"Cache-Control": "private, max-age=31536000, immutable"},
    )
