"""``python -m tradelane.lineage``: run the lineage service."""

from tradelane.lineage.app import build
from tradelane.runtime.service import run_service

if __name__ == "__main__":
    run_service(build)
