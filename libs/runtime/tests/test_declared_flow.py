"""FastStream knows the flow: a step declares its publishers, and the flow document names each service's part."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from faststream.specification import AsyncAPI

from tradelane.contracts import subjects
from tradelane.contracts.events import AnalysisCompleted, SignalGenerated
from tradelane.contracts.subjects import Step
from tradelane.runtime.asyncapi import flow_specification
from tradelane.runtime.flow import FLOW
from tradelane.runtime.service import Service
from tradelane.runtime.settings import Settings


def _sent(document: dict[str, Any]) -> set[str]:
    """Addresses of the channels the document's ``send`` operations use."""
    channels = document["channels"]
    return {
        channels[unquote(operation["channel"]["$ref"].rsplit("/", 1)[1])]["address"]
        for operation in document["operations"].values()
        if operation["action"] == "send"
    }


def test_a_step_declares_a_publisher_for_each_of_its_outputs() -> None:
    service = Service("step-under-test", Settings(nats_url="nats://127.0.0.1:1", health_port=None))

    @service.step(Step.SIGNAL)
    async def decide(msg: AnalysisCompleted) -> SignalGenerated:
        raise NotImplementedError

    document = AsyncAPI(service.broker).to_specification().to_jsonable()
    assert _sent(document) >= {subjects.SIGNAL_GENERATED, subjects.SIGNAL_REJECTED}


def test_a_service_declares_what_the_flow_says_it_publishes() -> None:
    service = Service("scheduler", Settings(nats_url="nats://127.0.0.1:1", health_port=None))
    document = AsyncAPI(service.broker).to_specification().to_jsonable()
    assert _sent(document) == {subjects.EXECUTION_REQUESTED, subjects.STEP_FAILED}


def test_the_flow_document_has_a_channel_for_each_part_of_each_participant() -> None:
    document = flow_specification("test", ["nats://user:secret@nats.example:4222"]).to_jsonable()
    parts = sum(len(r.consumes) + len(r.publishes) + len(r.answers) + len(r.requests) for r in FLOW.values())
    assert len(document["channels"]) == parts
    assert "indicators receives pipeline.market_data.fetched" in document["channels"]
    assert "indicators publishes pipeline.indicators.computed" in document["channels"]


def test_the_flow_document_names_the_servers_without_their_credentials() -> None:
    document = flow_specification("test", ["nats://user:secret@nats.example:4222"]).to_jsonable()
    assert [server["host"] for server in document["servers"].values()] == ["nats.example:4222"]
    assert "secret" not in str(document)
