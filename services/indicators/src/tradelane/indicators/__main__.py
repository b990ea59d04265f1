"""``python -m tradelane.indicators``: run the indicators service."""

from tradelane.indicators.app import build
from tradelane.runtime.service import run_service

if __name__ == "__main__":
    run_service(build)
