"""``python -m tradelane.scheduler``: run the scheduler."""

from tradelane.runtime.service import run_service
from tradelane.scheduler.app import build

if __name__ == "__main__":
    run_service(build)
