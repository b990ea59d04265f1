"""Value types of the template context that the render process must unpickle (kept free of heavy imports)."""

from __future__ import annotations


class IndicatorValues(dict[str, float | None]):
    """Indicator values by key; a key the strategy does not compute reads as None, not as an error."""

    def __missing__(self, key: str) -> None:
        return None
