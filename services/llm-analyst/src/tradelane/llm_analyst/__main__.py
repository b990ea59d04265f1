"""``python -m tradelane.llm_analyst``: run the analyst service."""

from tradelane.llm_analyst.app import build
from tradelane.runtime.service import run_service

if __name__ == "__main__":
    run_service(build)
