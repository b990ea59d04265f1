"""``python -m tradelane.llm_analyst``: run the analyst service."""

from pydantic import ValidationError

from tradelane.llm_analyst.app import build
from tradelane.llm_analyst.config import AnalystSettings
from tradelane.runtime.decisions import describe
from tradelane.runtime.service import run_service


def main() -> None:
    """Read the settings first, so an incomplete LLM configuration stops the service with its reason."""
    try:
        settings = AnalystSettings()
    except ValidationError as error:
        raise SystemExit(f"llm-analyst cannot start: {describe(error)}") from None
    run_service(lambda: build(settings))


if __name__ == "__main__":
    main()
