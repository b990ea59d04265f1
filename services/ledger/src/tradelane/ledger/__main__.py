"""``python -m tradelane.ledger``: run the signals ledger service."""

from tradelane.ledger.app import build
from tradelane.runtime.service import run_service

if __name__ == "__main__":
    run_service(build)
