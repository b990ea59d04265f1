"""``python -m tradelane.notifier``: run the notifier service."""

from tradelane.notifier.app import build
from tradelane.runtime.service import run_service

if __name__ == "__main__":
    run_service(build)
