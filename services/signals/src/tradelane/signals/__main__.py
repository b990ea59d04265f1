"""``python -m tradelane.signals``: run the signals service."""

from tradelane.runtime.service import run_service
from tradelane.signals.app import build

if __name__ == "__main__":
    run_service(build)
