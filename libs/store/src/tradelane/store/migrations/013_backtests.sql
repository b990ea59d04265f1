-- Backtests, owned by the backtester; read by the gateway and the CLI.
-- A run is one backtest (its request, plan, status and result); each decision of each variant is one
-- execution of the pipeline, keyed by (backtest, variant, seq), and filled in as its messages arrive.
CREATE SCHEMA IF NOT EXISTS backtest;

CREATE TABLE backtest.runs (
    id              uuid PRIMARY KEY,
    name            text NOT NULL,
    strategy_id     uuid NOT NULL,
    strategy_name   text NOT NULL,
    request         jsonb NOT NULL,   -- the BacktestRequest as asked
    strategies      jsonb NOT NULL,   -- variant name -> the StrategyDefinition its decisions run
    estimate        jsonb NOT NULL,   -- the BacktestEstimate shown before it started
    status          text NOT NULL CHECK (status IN ('running', 'stopping', 'stopped', 'completed', 'failed')),
    reason          text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz,
    result          jsonb,            -- the BacktestResult once complete
    report_html     text              -- the self-contained HTML report once complete
);
CREATE INDEX runs_newest ON backtest.runs (created_at DESC);

CREATE TABLE backtest.decisions (
    backtest_id     uuid NOT NULL REFERENCES backtest.runs (id) ON DELETE CASCADE,
    variant         text NOT NULL,
    seq             integer NOT NULL,
    decided_at      timestamptz NOT NULL,
    execution_id    uuid NOT NULL UNIQUE,
    fingerprint     text NOT NULL,    -- sha256 of (strategy definition as run, decided_at): same inputs, same answers
    status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'published', 'done', 'failed')),
    action          text,
    bias            text,
    confidence      integer,
    rejected_rule   text,
    error           text,
    signal          jsonb,            -- the SignalGenerated or SignalRejected as published
    cost_usd        numeric,
    cache_hits      integer NOT NULL DEFAULT 0,
    cache_misses    integer NOT NULL DEFAULT 0,
    analysed        boolean NOT NULL DEFAULT false,
    PRIMARY KEY (backtest_id, variant, seq)
);
CREATE INDEX decisions_waiting ON backtest.decisions (backtest_id, status, seq);
CREATE INDEX decisions_by_fingerprint ON backtest.decisions (fingerprint) WHERE status = 'done';
