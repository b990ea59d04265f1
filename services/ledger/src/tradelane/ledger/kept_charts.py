"""Each signal's chart, kept as long as the signal: copied from the ``charts`` bucket into ``kept-charts``.

The ``charts`` bucket expires its objects with the streams' replay window; the ledger keeps its
signals for good, and a signal without the chart its analyst saw could no longer be judged by a
person. So when the ledger records a signal, it copies that PNG (``provenance.chart_sha256``) into
``kept-charts``, which never expires. The copy is content-addressed, so a redelivery or a second
signal from the same chart stores nothing new.
"""

from __future__ import annotations

import structlog
from nats.js.errors import NotFoundError

from tradelane.contracts import subjects
from tradelane.contracts.market import ObjectRef
from tradelane.runtime.bus import EventBus

PNG = "image/png"

log = structlog.get_logger(__name__)


class ChartKeeper:
    """Copies a signal's chart into the bucket that keeps it (NATS errors propagate: the signal is retried)."""

    def __init__(self, bus: EventBus) -> None:
        self._bus = bus

    async def keep(self, chart_sha256: str) -> bool:
        """Copy the chart named ``chart_sha256``; False when it is no longer in the charts bucket.

        A chart already expired is no reason to refuse the signal: the signal is recorded without it.
        """
        ref = ObjectRef(bucket=subjects.CHART_BUCKET, name=chart_sha256, size=0, content_type=PNG)
        try:
            data = await self._bus.get_object(ref)
        except NotFoundError:
            log.warning("signal_chart_already_gone", chart_sha256=chart_sha256)
            return False
        await self._bus.put_object(data, PNG, bucket=subjects.KEPT_CHART_BUCKET)
        return True
