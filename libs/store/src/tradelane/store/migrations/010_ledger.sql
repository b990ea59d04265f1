-- The signals ledger, owned by the ledger service; read by the gateway and the CLI.
-- One row per signal event (pipeline.signal.generated or .rejected), keyed by its message id,
-- with the signal's prices and its provenance in columns (they are filtered and grouped by).
CREATE SCHEMA IF NOT EXISTS ledger;

CREATE TABLE ledger.signals (
    signal_id            uuid PRIMARY KEY,   -- the signal event's message id (orders placed from it carry it)
    execution_id         uuid NOT NULL,
    strategy_id          uuid NOT NULL,
    strategy_name        text NOT NULL,
    strategy_version     integer,            -- the stored version that ran; NULL when it was edited or deleted before
    replay_of            uuid,
    status               text NOT NULL CHECK (status IN ('generated', 'rejected')),
    rule                 text,
    reason               text,
    action               text NOT NULL CHECK (action IN ('BUY', 'SELL', 'HOLD')),
    confidence           integer NOT NULL,
    symbol               text NOT NULL,
    conid                bigint NOT NULL,
    entry                numeric,
    stop                 numeric,
    first_target         numeric,
    expires_at           timestamptz NOT NULL,
    signal               jsonb NOT NULL,     -- the Signal (or the rejected candidate) as published
    analysis             jsonb NOT NULL,
    analyst              text,               -- 'llm' or 'offline'; NULL from a signal step older than the ledger
    model                text NOT NULL,
    llm_provider         text,
    prompt_template_id   uuid,
    prompt_name          text,
    prompt_version       integer,
    chart_sha256         text,
    tokens_in            integer NOT NULL DEFAULT 0,
    tokens_out           integer NOT NULL DEFAULT 0,
    cost                 numeric,
    reference_price      numeric,            -- the last close the signal was made at
    reference_bar_time   timestamptz,        -- start of the last bar it saw
    bar_size             text NOT NULL,
    atr                  numeric,
    use_rth              boolean NOT NULL,
    what_to_show         text NOT NULL,
    occurred_at          timestamptz NOT NULL,
    recorded_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX signals_recent ON ledger.signals (occurred_at DESC);
CREATE INDEX signals_by_strategy ON ledger.signals (strategy_id, occurred_at DESC);
CREATE INDEX signals_by_symbol ON ledger.signals (symbol, occurred_at DESC);
CREATE INDEX signals_by_model ON ledger.signals (model, occurred_at DESC);
CREATE INDEX signals_by_prompt ON ledger.signals (prompt_template_id, prompt_version);
