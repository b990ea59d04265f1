"""What a stored chart artefact is, judged by its bytes."""

from __future__ import annotations

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def artefact_media_type(data: bytes) -> str:
    """``image/png`` for a PNG, otherwise ``application/json`` (the Plotly figure)."""
    return "image/png" if data.startswith(PNG_SIGNATURE) else "application/json"
