"""What the command line accepts and refuses, before anything connects (pure)."""

from __future__ import annotations

from uuid import uuid4

import pytest

from tradelane.cli.main import main

EXECUTION = str(uuid4())


@pytest.mark.parametrize(
    "argv",
    [
        ["replay"],
        ["replay", EXECUTION, "--subject", "pipeline.>", "--since", "1h"],
        ["replay", EXECUTION, "--since", "1h"],
        ["replay", EXECUTION, "--dry-run"],
        ["replay", "--subject", "pipeline.>"],
        ["replay", "--subject", "pipeline.>", "--since", "1h", "--start-sequence", "3"],
        ["replay", "--subject", "pipeline.>", "--since", "1h", "--prompt-version", "2"],
        ["replay", "--subject", "pipeline.>", "--since", "1h", "--from-step", "chart"],
        ["replay", "not-an-id"],
        ["replay", EXECUTION, "--from-step", "nowhere"],
        ["replay", EXECUTION, "--prompt-version", "0"],
        ["replay", "--subject", "pipeline.>", "--since", "yesterday-ish"],
        ["dlq", "redrive"],
        ["dlq", "redrive", "3", "--all"],
        ["dlq", "redrive", "--all", "--place-orders"],
        ["replay", "--subject", "pipeline.>", "--since", "1h", "--place-orders"],
        ["dlq", "show", "0"],
        ["executions", "show", "x"],
        ["strategies", "create", "--name", "only-a-name"],
        ["tail", "--count", "0"],
    ],
)
def test_bad_arguments_exit_with_2_before_connecting(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main([*argv, "--nats-url", "nats://127.0.0.1:1", "--database-url", "postgresql://nowhere/x"])
    assert exited.value.code == 2
    assert "error:" in capsys.readouterr().err


def test_a_server_that_cannot_be_reached_exits_with_1_naming_it(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["dlq", "list", "--nats-url", "nats://127.0.0.1:1"])
    assert code == 1
    assert "cannot reach NATS at nats://127.0.0.1:1 (from --nats-url)" in capsys.readouterr().err
