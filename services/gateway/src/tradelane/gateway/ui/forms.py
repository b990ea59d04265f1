"""HTML forms in and out: reading an urlencoded body, and validation errors placed at their fields.

A form field is named by its path in the API's JSON body (``symbol.symbol``,
``schedule.cron``, ``indicators.0.period`` for an item of a list), so the body the form
stands for is built by splitting the names, and
an error the API would answer at ``body.schedule.cron`` lands next to the ``schedule.cron``
input. htmx posts forms urlencoded; they hold no files, so the standard library reads them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final
from urllib.parse import parse_qsl

from fastapi import Request
from pydantic import BeforeValidator

from tradelane.gateway.errors import without_knock_on_errors

FORM_LEVEL: Final = ""
"""The key of an error that belongs to no one field (shown above the form)."""
ALL: Final = BeforeValidator(lambda value: value or None)
"""A filter's "all" option: its empty value means no filter (``Annotated[UUID | None, ALL]``)."""


async def form_values(request: Request) -> dict[str, str]:
    """The submitted fields (the last value of a repeated name), trimmed."""
    body = (await request.body()).decode("utf-8", errors="replace")
    return {name: value.strip() for name, value in parse_qsl(body, keep_blank_values=True)}


def nested(values: Mapping[str, str], *, checkboxes: Iterable[str], required: Iterable[str]) -> dict[str, Any]:
    """The JSON body a form stands for: dotted names split into objects, checkboxes as booleans.

    A part of a name that is a number is a position in a list (``indicators.2.period``): the
    items come out in the order of their numbers, gaps closed. An empty optional field is left
    out, so the API's default applies; an empty required one is kept, so the API's own error
    names it.
    """
    kept = set(required)
    flat: dict[str, Any] = {name: value for name, value in values.items() if value or name in kept}
    flat |= {name: name in values for name in checkboxes}
    body: dict[str, Any] = {}
    for name, value in flat.items():
        *parents, leaf = name.split(".")
        target = body
        for parent in parents:
            target = target.setdefault(parent, {})
        target[leaf] = value
    with_lists: dict[str, Any] = _with_lists(body)
    return with_lists


def _with_lists(node: Any) -> Any:
    """``node`` with every object whose keys are all numbers turned into the list of its values in that order."""
    if not isinstance(node, dict):
        return node
    items = {key: _with_lists(value) for key, value in node.items()}
    if items and all(key.isdigit() for key in items):
        return [items[key] for key in sorted(items, key=int)]
    return items


def field_errors(errors: Sequence[Any], fields: Iterable[str]) -> dict[str, str]:
    """Validation errors (pydantic's or the API's 422 shape) by the form field they are about.

    An error deeper than any field (an item of a list) goes to the nearest field above it;
    one that matches no field goes to :data:`FORM_LEVEL` with its location spelled out.
    """
    known = set(fields)
    placed: dict[str, str] = {}
    for error in without_knock_on_errors(errors):
        loc = [str(part) for part in error["loc"] if part != "body"]
        field = next((".".join(loc[:n]) for n in range(len(loc), 0, -1) if ".".join(loc[:n]) in known), None)
        message = str(error["msg"])
        if field is None:
            field, message = FORM_LEVEL, f"{'.'.join(loc) or 'body'}: {message}"
        placed[field] = f"{placed[field]}; {message}" if field in placed else message
    return placed
