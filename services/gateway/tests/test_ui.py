"""The web UI page: served at /, self-contained, and calling only endpoints that exist."""

from __future__ import annotations

import re

import httpx
from fastapi import FastAPI

API_CALL = re.compile(r"""api\(\s*"(?P<method>[A-Z]+)",\s*[`"](?P<path>/api/[^`"]*)[`"]""")
API_LITERAL = re.compile(r"""[`"'](?P<path>/api/[^`"']*)[`"']""")
PLACEHOLDER = re.compile(r"\$\{[^}]*\}")
PATH_PARAMETER = re.compile(r"\{[^}]+\}")


def _concrete(path: str) -> str:
    """A JS path literal as a request path: ``${...}`` filled in, query string dropped."""
    return PLACEHOLDER.sub("x", path).split("?", 1)[0]


def _methods_at(app: FastAPI, path: str) -> set[str]:
    """HTTP methods the API documents for ``path`` (empty when no endpoint has it)."""
    methods: set[str] = set()
    for template, operations in app.openapi()["paths"].items():
        pattern = "[^/]+".join(re.escape(part) for part in PATH_PARAMETER.split(template))
        if re.fullmatch(pattern, path):
            methods |= {verb.upper() for verb in operations}
    return methods


async def _page(client: httpx.AsyncClient) -> str:
    response = await client.get("/")
    assert response.status_code == 200
    return response.text


async def test_the_page_is_served_as_html(client: httpx.AsyncClient) -> None:
    response = await client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "<title>tradelane</title>" in response.text


async def test_the_page_loads_nothing_from_other_hosts(client: httpx.AsyncClient) -> None:
    page = await _page(client)
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)
    assert "https://" not in page and "http://" not in page


async def test_every_api_path_the_page_uses_exists(app: FastAPI, client: httpx.AsyncClient) -> None:
    paths = {match["path"] for match in API_LITERAL.finditer(await _page(client))}
    assert len(paths) >= 5
    missing = [path for path in paths if not _methods_at(app, _concrete(path))]
    assert missing == []


async def test_every_api_call_uses_a_method_its_endpoint_allows(app: FastAPI, client: httpx.AsyncClient) -> None:
    calls = {(match["method"], match["path"]) for match in API_CALL.finditer(await _page(client))}
    assert {method for method, _ in calls} == {"GET", "POST", "PUT", "DELETE"}
    wrong = [(method, path) for method, path in calls if method not in _methods_at(app, _concrete(path))]
    assert wrong == []


async def test_the_page_fetches_only_through_the_api_helper(client: httpx.AsyncClient) -> None:
    """So the call check above sees every request the page makes."""
    assert re.findall(r"\bfetch\(", await _page(client)) == ["fetch("]


async def test_the_ui_is_not_part_of_the_api_schema(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    assert "/" not in schema["paths"]


def _tag(page: str, element_id: str) -> str:
    """The opening tag of the element with ``element_id``."""
    match = re.search(rf"<[a-z]+ [^>]*id=\"{element_id}\"[^>]*>", page)
    assert match is not None, element_id
    return match.group(0)


async def test_controls_show_only_for_the_scope_that_may_use_them(client: httpx.AsyncClient) -> None:
    """A read token sees no button that changes anything: the page hides each by the scope it needs."""
    page = await _page(client)
    assert 'data-needs="trade"' in _tag(page, "resume")
    assert 'data-needs="operate"' in _tag(page, "halt")
    assert 'data-needs="operate"' in _tag(page, "create-form")
    assert 'allows("operate") ? [' in page
    assert 'const SCOPES = ["read", "operate", "trade", "admin"];' in page


async def test_the_login_form_keeps_the_token_out_of_urls_and_storage(client: httpx.AsyncClient) -> None:
    page = await _page(client)
    form = _tag(page, "login-form")
    assert 'method="post"' in form
    assert 'type="password"' in page and 'autocomplete="off"' in page
    assert "localStorage" not in page and "sessionStorage" not in page and "document.cookie" not in page
    assert not re.search(r"[?&]token=", page)


async def test_the_page_sends_the_csrf_token_with_changes(client: httpx.AsyncClient) -> None:
    assert 'options.headers["X-CSRF-Token"] = state.session.csrf_token' in await _page(client)
