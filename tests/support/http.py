"""What a refused HTTP request says, so a 4xx test asserts the message as well as the status.

The gateway answers a 4xx with ``{"detail": ...}``: a sentence saying what to change, or
FastAPI's list of validation errors (one per field, each with its location and message).
"""

from __future__ import annotations

import httpx


def refusal(response: httpx.Response, status: int) -> str:
    """The message of ``response``, once its status is checked: the detail, or each validation error as ``loc: msg``."""
    assert response.status_code == status, f"expected {status}, got {response.status_code}: {response.text}"
    detail = response.json()["detail"]
    if isinstance(detail, list):
        return "; ".join(f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}" for error in detail)
    assert isinstance(detail, str), detail
    return detail
