"""``python -m tradelane.broker``: run the broker service."""

from tradelane.broker.app import build
from tradelane.runtime.service import run_service

if __name__ == "__main__":
    run_service(build)
