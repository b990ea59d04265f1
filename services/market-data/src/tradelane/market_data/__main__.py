"""``python -m tradelane.market_data``: run the market-data service."""

from tradelane.market_data.app import build
from tradelane.runtime.service import run_service

if __name__ == "__main__":
    run_service(build)
