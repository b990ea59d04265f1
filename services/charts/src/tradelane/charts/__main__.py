"""``python -m tradelane.charts``: run the charts service."""

from tradelane.charts.app import build
from tradelane.runtime.service import run_service

if __name__ == "__main__":
    run_service(build)
