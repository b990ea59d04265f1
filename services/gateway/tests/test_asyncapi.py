"""The gateway serves the bus's AsyncAPI document, and it names every subject tradelane has."""

from __future__ import annotations

import httpx

from tradelane.contracts import subjects
from tradelane.runtime.flow import FLOW


def _declared_subjects() -> set[str]:
    """Every subject ``tradelane.contracts.subjects`` spells: its dotted constants, and each health subject."""
    constants = {
        value for name, value in vars(subjects).items() if name.isupper() and isinstance(value, str) and "." in value
    }
    health = {subjects.health_of(participant) for participant, role in FLOW.items() if role.answers}
    return constants | health


async def test_the_document_lists_every_subject(client: httpx.AsyncClient) -> None:
    response = await client.get("/asyncapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["asyncapi"].startswith("3.")
    addresses = {channel["address"] for channel in document["channels"].values()}
    assert _declared_subjects() - addresses == set()


async def test_each_event_subject_carries_its_contract(client: httpx.AsyncClient) -> None:
    document = (await client.get("/asyncapi.json")).json()
    schemas = set(document["components"]["schemas"])
    events = {subjects.event_type_for(subject) for subject in _declared_subjects()} - {None}
    assert {event.__name__ for event in events if event is not None} - schemas == set()


async def test_the_page_renders_the_document(client: httpx.AsyncClient) -> None:
    response = await client.get("/asyncapi")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert subjects.INDICATORS_COMPUTED in response.text
    policy = response.headers["content-security-policy"]
    assert "default-src 'none'" in policy
    assert "connect-src" not in policy


async def test_the_document_needs_a_token(anonymous: httpx.AsyncClient) -> None:
    """Like /openapi.json: the bus's layout is for callers with the read scope."""
    for path in ("/asyncapi.json", "/asyncapi"):
        assert (await anonymous.get(path)).status_code == 401
