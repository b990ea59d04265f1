"""The ``tradelane`` command."""

from __future__ import annotations

import argparse
import runpy
import sys

from tradelane.cli.services import SERVICES, module_of


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="tradelane", description="Auditable trading-signal pipeline for IBKR.")
    commands = root.add_subparsers(dest="command", required=True)
    commands.add_parser("up", help="run the whole system locally (embedded NATS and PostgreSQL unless configured)")
    run = commands.add_parser("run", help="run one service in the foreground")
    run.add_argument("service", choices=sorted({*SERVICES, *(name.replace("_", "-") for name in SERVICES)}))
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command == "up":
        from tradelane.cli.up import run_up

        run_up()
    elif args.command == "run":
        runpy.run_module(module_of(args.service), run_name="__main__", alter_sys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
