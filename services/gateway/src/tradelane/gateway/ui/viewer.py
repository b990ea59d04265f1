"""Who is looking at a page: the token's name and scope, what it may do, and the session's CSRF token."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from tradelane.gateway.security.access import CSRF_HEADER
from tradelane.gateway.security.context import principal_of
from tradelane.store.auth import Scope


@dataclass(frozen=True)
class Viewer:
    """The signed-in operator as the templates see them."""

    token_name: str
    scope: Scope
    csrf_token: str | None

    def may(self, needed: str) -> bool:
        """Whether a control needing ``needed`` is shown (the access layer decides again on use)."""
        return self.scope.covers(Scope(needed))

    @property
    def htmx_headers(self) -> str:
        """The ``hx-headers`` JSON that makes every htmx request carry the session's CSRF token."""
        return json.dumps({CSRF_HEADER: self.csrf_token} if self.csrf_token else {})


def viewer(request: Request) -> Viewer:
    principal = principal_of(request)
    return Viewer(principal.token.name, principal.token.scope, principal.csrf_token)


SignedIn = Annotated[Viewer, Depends(viewer)]
