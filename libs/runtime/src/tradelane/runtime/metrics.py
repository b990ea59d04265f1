"""Prometheus metrics of a service process, and the counters its health report reads."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

MESSAGES = Counter(
    "tradelane_messages_total",
    "Messages handled, by outcome: ok, retried (nak'ed for redelivery) or given_up (terminated).",
    ["service", "subject", "outcome"],
)
HANDLER_SECONDS = Histogram(
    "tradelane_handler_seconds",
    "Time spent handling one message, per subject.",
    ["service", "subject"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
IN_FLIGHT = Gauge("tradelane_messages_in_flight", "Messages being handled right now.", ["service"])
CONSUMER_PENDING = Gauge(
    "tradelane_consumer_pending", "Messages in the stream not yet delivered to the consumer (lag).", ["consumer"]
)
CONSUMER_ACK_PENDING = Gauge(
    "tradelane_consumer_ack_pending", "Messages delivered to the consumer and not yet acknowledged.", ["consumer"]
)
LOG_LINES_DROPPED = Counter(
    "tradelane_log_lines_dropped_total",
    "Log lines not published on the bus (queue full, NATS unreachable, refused); stderr still has them.",
    ["service"],
)

METRICS_CONTENT_TYPE = CONTENT_TYPE_LATEST


def render_metrics() -> bytes:
    """The process's metrics in the Prometheus text format."""
    return generate_latest()


@dataclass
class ServiceStats:
    """Counters of one service process, for its health report and its metrics."""

    service: str
    in_flight: int = 0
    handled: int = 0
    failed: int = 0
    _outcomes: dict[str, int] = field(default_factory=dict)

    def started(self) -> None:
        self.in_flight += 1
        IN_FLIGHT.labels(self.service).inc()

    def finished(self, subject: str, outcome: str, seconds: float) -> None:
        self.in_flight -= 1
        IN_FLIGHT.labels(self.service).dec()
        if outcome == "ok":
            self.handled += 1
        elif outcome == "given_up":
            self.failed += 1
        MESSAGES.labels(self.service, subject, outcome).inc()
        HANDLER_SECONDS.labels(self.service, subject).observe(seconds)
