-- Outcomes of the signals in the ledger, and what they are judged from.

-- When the ledger next looks for a signal's shadow outcome; NULL once it needs none.
ALTER TABLE ledger.signals ADD COLUMN next_check_at timestamptz;
CREATE INDEX signals_due ON ledger.signals (next_check_at) WHERE next_check_at IS NOT NULL;

-- The orders placed from signals, as the broker's events tell them (status only moves forward).
CREATE TABLE ledger.orders (
    client_ref   text PRIMARY KEY,
    signal_id    uuid NOT NULL,
    role         text NOT NULL CHECK (role IN ('entry', 'take_profit', 'stop_loss')),
    status       text NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX orders_by_signal ON ledger.orders (signal_id);

-- Their fills, once each (the venue's execution id).
CREATE TABLE ledger.fills (
    exec_id      text PRIMARY KEY,
    client_ref   text NOT NULL,
    signal_id    uuid NOT NULL,
    role         text NOT NULL CHECK (role IN ('entry', 'take_profit', 'stop_loss')),
    quantity     numeric NOT NULL,
    price        numeric NOT NULL,
    commission   numeric NOT NULL,
    filled_at    timestamptz NOT NULL
);
CREATE INDEX fills_by_signal ON ledger.fills (signal_id);

-- One outcome per signal and source: the automatic ones (traded, shadow) are written once;
-- a manual one is replaced by a later one (a correction), never the automatic ones.
CREATE TABLE ledger.outcomes (
    signal_id    uuid NOT NULL,
    source       text NOT NULL CHECK (source IN ('traded', 'shadow', 'manual')),
    message_id   uuid NOT NULL,
    kind         text NOT NULL,
    hit          boolean,
    exit_price   numeric,
    exit_at      timestamptz,
    r_multiple   numeric,
    mfe_r        numeric,
    mae_r        numeric,
    pnl          numeric,
    fees         numeric,
    quantity     numeric,
    bars         integer NOT NULL DEFAULT 0,
    note         text NOT NULL DEFAULT '',
    recorded_by  text,
    occurred_at  timestamptz NOT NULL,
    recorded_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (signal_id, source)
);
