"""``python -m tradelane.backtester``: run the backtester service."""

from tradelane.backtester.app import build
from tradelane.runtime.service import run_service

if __name__ == "__main__":
    run_service(build)
