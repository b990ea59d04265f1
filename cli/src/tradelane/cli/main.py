"""The ``tradelane`` command."""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import runpy
import sys
from collections.abc import Awaitable, Callable
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg
import nats.errors
from pydantic import ValidationError

from tradelane.cli.context import EXIT_BAD_INPUT, EXIT_INTERRUPTED, EXIT_UNAVAILABLE, CliError, Connections, Console
from tradelane.cli.endpoints import resolve_endpoints
from tradelane.cli.services import SERVICES, module_of
from tradelane.cli.timespec import HINT, parse_lifetime, parse_moment
from tradelane.contracts.backtest import VariantOverrides
from tradelane.contracts.envelope import utc_now
from tradelane.contracts.performance import DEFAULT_MIN_OUTCOMES, GroupBy
from tradelane.contracts.replay import ReplayOverrides
from tradelane.contracts.strategy import AssetType, BarSize
from tradelane.contracts.subjects import Step
from tradelane.runtime.bus_credentials import CredentialsError
from tradelane.runtime.bus_permissions import OPERATOR, PROVISION
from tradelane.runtime.decisions import describe
from tradelane.runtime.redaction import redact, register_secret, register_settings_secrets
from tradelane.runtime.settings import Settings
from tradelane.store.auth import MAX_LIFETIME_DAYS, TOKEN_NAME_PATTERN, Scope

EXECUTION_STATUSES = ("running", "completed", "rejected", "failed")


def _uuid(text: str) -> UUID:
    try:
        return UUID(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"{text!r} is not an id (a UUID such as 3b8e6c1e-0f4e-...)") from error


def _moment(text: str) -> Any:
    try:
        return parse_moment(text, utc_now())
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from error


def _token_name(text: str) -> str:
    if not re.fullmatch(TOKEN_NAME_PATTERN, text):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a token name: a letter or digit, then up to 99 of those or . _ @ : -"
        )
    return text


def _lifetime(text: str) -> timedelta:
    try:
        lifetime = parse_lifetime(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from error
    if lifetime > timedelta(days=MAX_LIFETIME_DAYS):
        raise argparse.ArgumentTypeError(f"{text!r} is longer than the {MAX_LIFETIME_DAYS} days a token may last")
    return lifetime


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from error
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be 1 or more")
    return value


def _decimal(text: str) -> Decimal:
    try:
        return Decimal(text)
    except ArithmeticError as error:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from error


def _connection_options() -> argparse.ArgumentParser:
    options = argparse.ArgumentParser(add_help=False)
    group = options.add_argument_group("connections (default: TRADELANE_* variables, then .state/endpoints.json)")
    group.add_argument("--nats-url", help="NATS server(s), comma separated")
    group.add_argument("--database-url", help="PostgreSQL DSN")
    group.add_argument(
        "--nats-credentials", type=Path, help="JSON file of NATS passwords (default: .state/nats-credentials.json)"
    )
    return options


def _json_option() -> argparse.ArgumentParser:
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument("--json", action="store_true", help="one JSON document per line")
    return options


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="tradelane", description="Auditable trading-signal pipeline for IBKR.")
    commands = root.add_subparsers(dest="command", required=True)
    commands.add_parser("up", help="run the whole system locally (embedded NATS and PostgreSQL unless configured)")
    run = commands.add_parser("run", help="run one service in the foreground")
    run.add_argument("service", choices=sorted({*SERVICES, *(name.replace("_", "-") for name in SERVICES)}))
    connection, as_json = _connection_options(), _json_option()
    _add_replay(commands, connection)
    _add_tail(commands, connection)
    _add_dlq(commands, connection, as_json)
    _add_executions(commands, connection, as_json)
    _add_strategies(commands, connection, as_json)
    _add_tokens(commands, connection, as_json)
    _add_performance(commands, connection, as_json)
    _add_backtest(commands, connection, as_json)
    _add_api(commands, connection)
    commands.add_parser(
        "status",
        parents=[connection, as_json],
        help="services alive on the bus, stream depths, consumer lag, dead letters",
    )
    commands.add_parser(
        "provision", parents=[connection], help="declare streams, consumers and object store; apply migrations"
    )
    return root


def _add_replay(commands: Any, connection: argparse.ArgumentParser) -> None:
    replay = commands.add_parser(
        "replay",
        parents=[connection],
        help="replay an execution from a step, or a window of a subject",
        description="Replay EXECUTION_ID from a step (optionally with another prompt version, model or cache "
        "setting), or every message of --subject stored in a time window. Each republished message starts "
        "a new execution with replay_of set; replays never place live orders.",
    )
    replay.add_argument("execution_id", nargs="?", type=_uuid, metavar="EXECUTION_ID")
    by_execution = replay.add_argument_group("replaying an execution")
    by_execution.add_argument(
        "--from-step",
        type=Step,
        choices=list(Step),
        default=Step.REQUESTED,
        metavar="STEP",
        help=f"first step to run again: {', '.join(Step)} (default: requested, the whole execution)",
    )
    by_execution.add_argument("--prompt-version", type=_positive, help="analyse with this prompt template version")
    by_execution.add_argument("--model", help="analyse with this model")
    by_execution.add_argument(
        "--cache", action=argparse.BooleanOptionalAction, default=None, help="reuse cached LLM answers, or not"
    )
    by_execution.add_argument(
        "--place-orders",
        action="store_true",
        help="let the replay's signal place (paper) orders; without it a replay places none",
    )
    by_subject = replay.add_argument_group("replaying a subject")
    by_subject.add_argument("--subject", help="subject or pattern, e.g. pipeline.indicators.computed")
    by_subject.add_argument("--since", type=_moment, help=f"start of the window; {HINT}")
    by_subject.add_argument("--start-sequence", type=_positive, help="start at this stream sequence instead")
    by_subject.add_argument("--until", type=_moment, help="end of the window (default: now)")
    by_subject.add_argument("--strategy", type=_uuid, help="only messages of this strategy id")
    by_subject.add_argument("--to-subject", help="republish there instead of on the original subject")
    by_subject.add_argument("--dry-run", action="store_true", help="list what would be republished, publish nothing")


def _add_tail(commands: Any, connection: argparse.ArgumentParser) -> None:
    tail = commands.add_parser("tail", parents=[connection], help="print live messages, decoded")
    tail.add_argument("pattern", nargs="?", help="subject pattern (default: pipeline.>, trading.>, deadletter.>)")
    tail.add_argument("--execution", type=_uuid, help="only messages of this execution")
    tail.add_argument("--json", action="store_true", help="one JSON object per message")
    tail.add_argument("--count", type=_positive, help="stop after this many messages")


def _add_dlq(commands: Any, connection: argparse.ArgumentParser, as_json: argparse.ArgumentParser) -> None:
    dlq = commands.add_parser("dlq", help="dead letters: list, show, redrive").add_subparsers(
        dest="action", required=True
    )
    listing = dlq.add_parser("list", parents=[connection, as_json], help="dead letters, oldest first")
    listing.add_argument("--limit", type=_positive, default=100)
    show = dlq.add_parser("show", parents=[connection, as_json], help="one dead letter with its body")
    show.add_argument("id", type=_positive, metavar="ID")
    redrive = dlq.add_parser("redrive", parents=[connection], help="publish dead letters to their subject again")
    which = redrive.add_mutually_exclusive_group(required=True)
    which.add_argument("id", nargs="?", type=_positive, metavar="ID")
    which.add_argument("--all", action="store_true", help="every dead letter")
    redrive.add_argument(
        "--place-orders",
        action="store_true",
        help="let a redriven signal place orders (one ID only); without it a redriven signal places none",
    )


def _add_executions(commands: Any, connection: argparse.ArgumentParser, as_json: argparse.ArgumentParser) -> None:
    executions = commands.add_parser("executions", help="executions: list, show, diff").add_subparsers(
        dest="action", required=True
    )
    listing = executions.add_parser("list", parents=[connection, as_json], help="recent executions, newest first")
    listing.add_argument("--strategy", type=_uuid, help="only this strategy id")
    listing.add_argument("--status", choices=EXECUTION_STATUSES)
    listing.add_argument("--limit", type=_positive, default=20)
    show = executions.add_parser("show", parents=[connection, as_json], help="one execution, step by step")
    show.add_argument("execution_id", type=_uuid, metavar="EXECUTION_ID")
    diff = executions.add_parser(
        "diff", parents=[connection, as_json], help="what differs between two executions (exit 1 if anything)"
    )
    diff.add_argument("first", type=_uuid, metavar="EXECUTION_ID")
    diff.add_argument("second", type=_uuid, metavar="OTHER_ID")


def _add_performance(commands: Any, connection: argparse.ArgumentParser, as_json: argparse.ArgumentParser) -> None:
    performance = commands.add_parser(
        "performance",
        parents=[connection, as_json],
        help="how well signals did by prompt version, model, strategy or analyst (from the signals ledger)",
    )
    performance.add_argument(
        "--group-by", choices=[by.value for by in GroupBy], default=GroupBy.PROMPT_VERSION.value, help="what to compare"
    )
    performance.add_argument("--since", type=_moment, help=f"only signals made at or after this time; {HINT}")
    performance.add_argument("--until", type=_moment, help="only signals made before this time")
    performance.add_argument("--strategy", type=_uuid, help="only this strategy id")
    performance.add_argument("--include-replays", action="store_true", help="count replayed executions' signals too")
    performance.add_argument(
        "--min-outcomes",
        type=_positive,
        default=DEFAULT_MIN_OUTCOMES,
        help="groups with fewer BUY/SELL outcomes are shown, not ranked",
    )


def _add_backtest(commands: Any, connection: argparse.ArgumentParser, as_json: argparse.ArgumentParser) -> None:
    backtest = commands.add_parser(
        "backtest",
        parents=[connection, as_json],
        help="run a strategy over a past period; list, show and resume backtests",
        usage="tradelane backtest STRATEGY --start DATE --end DATE [options] | --resume ID | list | show ID",
        description="Run STRATEGY (name or id) over [--start, --end] through the same services as live: each "
        "decision sees only the bars closed by then, buy-and-hold (and for a model the offline rules) run beside it, "
        "and answers the model already gave are reused at no cost. Prints the estimate first (and asks before "
        "a run that may cost money, unless --yes), then a progress bar; Ctrl-C stops the run cleanly and "
        "prints how to resume it. At the end: the metrics side by side and where the report is.",
    )
    backtest.add_argument(
        "target", nargs="*", metavar="STRATEGY | list | show ID", help="a strategy's name or id, or list, or show ID"
    )
    backtest.add_argument("--start", type=_moment, help=f"first day of the period (a date is 00:00 UTC); {HINT}")
    backtest.add_argument("--end", type=_moment, help="end of the period (a date is 00:00 UTC of that day)")
    backtest.add_argument(
        "--cadence",
        help="when to decide: bar (every bar's close), cron (the strategy's schedule) or a cron expression in "
        "quotes (default: bar for bars of an hour or longer, else hourly, '0 * * * *')",
    )
    variants = backtest.add_argument_group("what to run (default: the strategy as stored)")
    variants.add_argument("--prompt-version", type=_positive, help="analyse with this prompt template version")
    variants.add_argument("--model", help="analyse with this model")
    variants.add_argument("--analyst", choices=("offline", "llm", "auto"), help="analyse with this analyst")
    variants.add_argument(
        "--compare",
        metavar="FIELD=A,B",
        help="A/B on the same decisions: prompt_version=2,3, model=A,B or analyst=offline,llm",
    )
    costs = backtest.add_argument_group("costs")
    costs.add_argument("--budget-usd", type=_decimal, help="stop the run when its model cost reaches this")
    costs.add_argument("--commission-rate", type=_decimal, help="commission as a fraction of the traded value")
    costs.add_argument("--slippage-bps", type=_decimal, help="slippage in basis points of the price")
    backtest.add_argument("--name", help="a name for the backtest (optional)")
    backtest.add_argument("--estimate-only", action="store_true", help="print the estimate and start nothing")
    backtest.add_argument("--yes", "-y", action="store_true", help="start without asking, even when it may cost")
    backtest.add_argument("--resume", type=_uuid, metavar="ID", help="resume a stopped backtest and follow it")
    backtest.add_argument("--strategy", help="list: only this strategy's backtests (name or id)")
    backtest.add_argument("--limit", type=_positive, default=50, help="list: at most this many (default 50)")
    backtest.add_argument("--report", type=Path, metavar="FILE", help="show: write the HTML report to FILE")


def _backtest_command(args: argparse.Namespace, root: argparse.ArgumentParser) -> Command:
    """What ``tradelane backtest`` was asked: start (``STRATEGY``), ``--resume ID``, ``list`` or ``show ID``."""
    from tradelane.cli import backtest

    json_output = bool(args.json)
    if args.resume is not None:
        if args.target:
            root.error("backtest --resume ID takes no STRATEGY, list or show")
        return lambda c, o: backtest.backtest_resume(c, o, args.resume)
    match args.target:
        case ["list"]:
            return lambda c, o: backtest.backtest_list(
                c, o, strategy=args.strategy, limit=args.limit, json_output=json_output
            )
        case ["show", shown]:
            backtest_id = _uuid_or_error(root, shown)
            return lambda c, o: backtest.backtest_show(c, o, backtest_id, report=args.report, json_output=json_output)
        case [strategy]:
            if args.start is None or args.end is None:
                root.error("backtest STRATEGY needs --start DATE and --end DATE")
            options = backtest.StartOptions(
                strategy=strategy,
                start=args.start,
                end=args.end,
                cadence=args.cadence,
                overrides=_overrides(root, args),
                compare=args.compare,
                budget_usd=args.budget_usd,
                commission_rate=args.commission_rate,
                slippage_bps=args.slippage_bps,
                name=args.name,
                estimate_only=args.estimate_only,
                yes=args.yes,
            )
            return lambda c, o: backtest.backtest_start(c, o, options)
    raise CliError("backtest takes a STRATEGY (name or id) with --start and --end, or --resume ID, list, or show ID")


def _uuid_or_error(root: argparse.ArgumentParser, text: str) -> UUID:
    try:
        return _uuid(text)
    except argparse.ArgumentTypeError as error:
        root.error(str(error))


def _overrides(root: argparse.ArgumentParser, args: argparse.Namespace) -> VariantOverrides:
    try:
        return VariantOverrides(analyst=args.analyst, model=args.model, prompt_version=args.prompt_version)
    except ValidationError as error:
        root.error(describe(error))


def _add_strategies(commands: Any, connection: argparse.ArgumentParser, as_json: argparse.ArgumentParser) -> None:
    strategies = commands.add_parser("strategies", help="strategies: list, create, run").add_subparsers(
        dest="action", required=True
    )
    strategies.add_parser("list", parents=[connection, as_json], help="every strategy by name")
    create = strategies.add_parser(
        "create",
        parents=[connection],
        help="create a strategy from a JSON file and/or flags",
        description="Flags override the file's fields; without a file, --name and --symbol are required.",
    )
    create.add_argument("--file", type=Path, help="a JSON strategy definition (as POST /api/strategies takes)")
    create.add_argument("--name")
    create.add_argument("--description")
    create.add_argument("--symbol", help="ticker, e.g. AAPL")
    create.add_argument("--exchange", help="e.g. SMART (default)")
    create.add_argument("--currency", help="e.g. USD (default)")
    create.add_argument("--asset-type", choices=[kind.value for kind in AssetType])
    create.add_argument("--bar-size", choices=[size.value for size in BarSize], help="e.g. '1 day'")
    create.add_argument("--duration", help="history to fetch, IB style: '1 Y', '30 D'")
    create.add_argument(
        "--chart-bars", type=int, help="bars each chart shows, the latest (default 200; indicators use all)"
    )
    create.add_argument("--cron", help="five-field cron, e.g. '0 16 * * 1-5'")
    create.add_argument("--timezone", help="IANA time zone of the cron, e.g. America/New_York")
    create.add_argument("--inactive", action="store_true", help="create it paused (the scheduler skips it)")
    run = strategies.add_parser("run", parents=[connection], help="run a strategy now")
    run.add_argument("strategy", metavar="ID_OR_NAME")
    run.add_argument("--wait", type=float, metavar="SECONDS", help="follow the run to its end, up to SECONDS")


def _add_tokens(commands: Any, connection: argparse.ArgumentParser, as_json: argparse.ArgumentParser) -> None:
    tokens = commands.add_parser(
        "tokens",
        help="API tokens of the gateway: create, list, revoke",
        description="Tokens are written to the database directly; scopes: read < operate < trade < admin.",
    ).add_subparsers(dest="action", required=True)
    create = tokens.add_parser("create", parents=[connection], help="create a token and print it (this once)")
    create.add_argument("--name", required=True, type=_token_name, help="unique among live tokens, e.g. grafana")
    create.add_argument(
        "--scope", required=True, type=Scope, choices=list(Scope), metavar="SCOPE", help="read, operate, trade or admin"
    )
    create.add_argument(
        "--expires", type=_lifetime, metavar="LIFETIME", help="e.g. 90d, 12h, 1y (default: until revoked)"
    )
    tokens.add_parser(
        "list", parents=[connection, as_json], help="every token (never its secret), with when it was last used"
    )
    revoke = tokens.add_parser("revoke", parents=[connection], help="revoke a token at once, by name or id")
    revoke.add_argument("token", metavar="NAME_OR_ID")


def _add_api(commands: Any, connection: argparse.ArgumentParser) -> None:
    from tradelane.cli.api import DEFAULT_GATEWAY, URL_VARIABLE
    from tradelane.cli.credentials import TOKEN_VARIABLE

    api = commands.add_parser(
        "api",
        parents=[connection],
        help="call the gateway's REST API with the local token",
        description=f"The token comes from {TOKEN_VARIABLE}, else the admin-token file `tradelane up` writes in the "
        "state directory. Prints the answer's JSON; exits 1 with the gateway's reason on an error.",
    )
    api.add_argument("method", type=str.upper, choices=("GET", "POST", "PUT", "PATCH", "DELETE"), metavar="METHOD")
    api.add_argument("path", metavar="PATH", help="e.g. /api/strategies or '/api/executions?limit=5'")
    api.add_argument("--data", help="JSON body; @FILE reads it from a file, - from stdin")
    api.add_argument(
        "--url", help=f"the gateway (default: {URL_VARIABLE}, then what `tradelane up` wrote, then {DEFAULT_GATEWAY})"
    )


def _strategy_fields(args: argparse.Namespace) -> dict[str, Any]:
    flags = {
        "name": args.name,
        "description": args.description,
        "bar_size": args.bar_size,
        "duration": args.duration,
        "chart_bars": args.chart_bars,
        "active": False if args.inactive else None,
    }
    symbol = {
        "symbol": args.symbol,
        "exchange": args.exchange,
        "currency": args.currency,
        "asset_type": args.asset_type,
    }
    schedule = {"cron": args.cron, "timezone": args.timezone}
    fields: dict[str, Any] = {key: value for key, value in flags.items() if value is not None}
    if any(value is not None for value in symbol.values()):
        fields["symbol"] = {key: value for key, value in symbol.items() if value is not None}
    if any(value is not None for value in schedule.values()):
        fields["schedule"] = {key: value for key, value in schedule.items() if value is not None}
    return fields


def _check_replay_arguments(command: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    window_only = {"--until": args.until, "--strategy": args.strategy, "--to-subject": args.to_subject}
    execution_only = {
        "--prompt-version": args.prompt_version,
        "--model": args.model,
        "--cache": args.cache,
        "--place-orders": args.place_orders or None,
    }
    if (args.execution_id is None) == (args.subject is None):
        command.error("give either EXECUTION_ID or --subject")
    if args.execution_id is not None:
        used = [flag for flag, value in window_only.items() if value is not None]
        if used or args.dry_run or args.since or args.start_sequence:
            command.error("--since/--until/--start-sequence/--strategy/--to-subject/--dry-run go with --subject")
        return
    used = [flag for flag, value in execution_only.items() if value is not None]
    if used or args.from_step is not Step.REQUESTED:
        command.error(f"{', '.join(used) or '--from-step'} go with EXECUTION_ID, not --subject")
    if (args.since is None) == (args.start_sequence is None):
        command.error("--subject needs a window start: --since TIME or --start-sequence N")


Command = Callable[[Connections, Console], Awaitable[int]]


def _command(args: argparse.Namespace, root: argparse.ArgumentParser) -> Command:  # noqa: PLR0911, PLR0912 - one branch per subcommand
    from tradelane.cli import api, dlq, executions, performance, provision, replay, status, strategies, tail, tokens

    json_output = bool(getattr(args, "json", False))
    match (args.command, getattr(args, "action", None)):
        case ("replay", _):
            _check_replay_arguments(root, args)
            if args.execution_id is not None:
                overrides = ReplayOverrides(
                    prompt_version=args.prompt_version,
                    model=args.model,
                    cache=args.cache,
                    place_orders=args.place_orders,
                )
                return lambda c, o: replay.replay_execution(c, o, args.execution_id, args.from_step, overrides)
            window = replay.WindowOptions(
                subject=args.subject,
                since=args.since,
                start_sequence=args.start_sequence,
                until=args.until,
                strategy_id=args.strategy,
                to_subject=args.to_subject,
                dry_run=args.dry_run,
            )
            return lambda c, o: replay.replay_window(c, o, window)
        case ("tail", _):
            options = tail.TailOptions(args.pattern, args.execution, args.json, args.count)
            return lambda c, o: tail.tail(c, o, options)
        case ("dlq", "list"):
            return lambda c, o: dlq.dlq_list(c, o, limit=args.limit, json_output=json_output)
        case ("dlq", "show"):
            return lambda c, o: dlq.dlq_show(c, o, args.id, json_output=json_output)
        case ("dlq", "redrive"):
            if args.all and args.place_orders:
                root.error("--place-orders redrives one ID at a time, never --all")
            return lambda c, o: dlq.dlq_redrive(c, o, args.id, every=args.all, place_orders=args.place_orders)
        case ("executions", "list"):
            return lambda c, o: executions.executions_list(
                c, o, strategy_id=args.strategy, status=args.status, limit=args.limit, json_output=json_output
            )
        case ("executions", "show"):
            return lambda c, o: executions.executions_show(c, o, args.execution_id, json_output=json_output)
        case ("executions", "diff"):
            return lambda c, o: executions.executions_diff(c, o, args.first, args.second, json_output=json_output)
        case ("strategies", "list"):
            return lambda c, o: strategies.strategies_list(c, o, json_output=json_output)
        case ("strategies", "create"):
            if args.file is None and (args.name is None or args.symbol is None):
                root.error("strategies create needs --file, or at least --name and --symbol")
            definition = strategies.definition_from(args.file, _strategy_fields(args))
            return lambda c, o: strategies.strategies_create(c, o, definition)
        case ("strategies", "run"):
            return lambda c, o: strategies.strategies_run(c, o, args.strategy, wait_seconds=args.wait)
        case ("tokens", "create"):
            return lambda c, o: tokens.tokens_create(c, o, args.name, args.scope, args.expires)
        case ("tokens", "list"):
            return lambda c, o: tokens.tokens_list(c, o, json_output=json_output)
        case ("tokens", "revoke"):
            return lambda c, o: tokens.tokens_revoke(c, o, args.token)
        case ("performance", _):
            grouping = performance.PerformanceOptions(
                group_by=GroupBy(args.group_by),
                since=args.since,
                until=args.until,
                strategy_id=args.strategy,
                include_replays=args.include_replays,
                min_outcomes=args.min_outcomes,
            )
            return lambda c, o: performance.performance_table(c, o, grouping, json_output=json_output)
        case ("backtest", _):
            return _backtest_command(args, root)
        case ("api", _):
            call = api.ApiCall(args.method, args.path, args.data, args.url)
            return lambda c, o: asyncio.to_thread(api.call_api, c, o, call, dict(os.environ), Settings().state_dir)
        case ("status", _):
            return lambda c, o: status.status(c, o, json_output=json_output)
        case ("provision", _):
            return lambda c, o: provision.provision_all(c, o, Settings())
    raise AssertionError(f"unhandled command {args.command}")  # pragma: no cover - argparse refuses others


def operate(args: argparse.Namespace, root: argparse.ArgumentParser, console: Console | None = None) -> int:
    """Run an operator command: resolve where the servers are, connect on demand, report errors plainly."""
    console = console or Console()
    try:
        command = _command(args, root)
        settings = Settings()
        register_settings_secrets(settings)
        endpoints = resolve_endpoints(
            settings,
            nats_url=args.nats_url,
            database_url=args.database_url,
            nats_credentials=args.nats_credentials,
            identity=PROVISION if args.command == "provision" else OPERATOR,
        )
        for endpoint in (endpoints.nats, endpoints.database):
            register_secret(endpoint.url)
        if endpoints.nats_credentials is not None:
            register_secret(endpoints.nats_credentials.password)

        async def run() -> int:
            async with Connections(endpoints) as connections:
                code = await command(connections, console)
            connections.raise_if_refused()
            return code

        return asyncio.run(run())
    except CliError as error:
        console.note(redact(f"tradelane {args.command}: {error}"))
        return error.exit_code
    except CredentialsError as error:
        console.note(f"tradelane {args.command}: {error}")
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # the reader went away (`tradelane ... | head`): stop quietly, and keep Python from
        # complaining again when it flushes stdout on exit
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except (nats.errors.Error, asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as error:
        console.note(redact(f"tradelane {args.command}: a server failed mid-command: {type(error).__name__}: {error}"))
        return EXIT_UNAVAILABLE


def main(argv: list[str] | None = None, console: Console | None = None) -> int:
    root = parser()
    args = root.parse_args(argv)
    if args.command == "up":
        from tradelane.cli.up import run_up

        run_up()
        return 0
    if args.command == "run":
        runpy.run_module(module_of(args.service), run_name="__main__", alter_sys=True)
        return 0
    return operate(args, root, console)


if __name__ == "__main__":
    sys.exit(main())
