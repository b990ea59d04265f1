-- The book, owned by the broker service: orders, fills, positions, cash, snapshots, risk state.
-- The gateway reads it, and writes only the risk limits and the trading state (the kill switch).
CREATE SCHEMA IF NOT EXISTS broker;

-- Instruments the broker has seen, with their latest price (the paper broker's marks).
CREATE TABLE broker.instruments (
    conid       bigint PRIMARY KEY,
    symbol      text NOT NULL,
    exchange    text NOT NULL,
    currency    text NOT NULL,
    asset_type  text NOT NULL,
    description text NOT NULL DEFAULT '',
    min_tick    numeric NOT NULL,
    last_price  numeric CHECK (last_price > 0),
    priced_at   timestamptz
);
CREATE INDEX instruments_by_symbol ON broker.instruments (symbol, asset_type, currency);

CREATE TABLE broker.orders (
    id               uuid PRIMARY KEY,
    client_ref       text NOT NULL UNIQUE,
    group_ref        text NOT NULL,
    parent_ref       text REFERENCES broker.orders (client_ref),
    oca_group        text,
    role             text NOT NULL CHECK (role IN ('entry', 'take_profit', 'stop_loss')),
    source           text NOT NULL CHECK (source IN ('signal', 'manual')),
    venue            text NOT NULL CHECK (venue IN ('paper', 'ib')),
    execution_id     uuid NOT NULL,
    strategy_id      uuid NOT NULL,
    signal_id        uuid,
    causation_id     uuid,
    replay_of        uuid,
    instrument       jsonb NOT NULL,
    conid            bigint NOT NULL,
    side             text NOT NULL CHECK (side IN ('BUY', 'SELL')),
    order_type       text NOT NULL CHECK (order_type IN ('MKT', 'LMT', 'STP', 'STP LMT')),
    quantity         numeric NOT NULL CHECK (quantity >= 0),
    limit_price      numeric,
    stop_price       numeric,
    tif              text NOT NULL CHECK (tif IN ('DAY', 'GTC', 'IOC')),
    status           text NOT NULL CHECK (status IN ('pending_submit', 'accepted', 'partially_filled', 'filled',
                                                     'pending_cancel', 'cancelled', 'rejected')),
    filled_quantity  numeric NOT NULL DEFAULT 0,
    average_price    numeric,
    commission       numeric NOT NULL DEFAULT 0,
    broker_order_id  text,
    reject_rule      text,
    reject_code      integer,
    reason           text,
    sizing           text NOT NULL DEFAULT '',
    working_since    timestamptz,
    sent_at          timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX orders_recent ON broker.orders (created_at DESC);
CREATE INDEX orders_by_group ON broker.orders (group_ref);
CREATE INDEX orders_working ON broker.orders (conid)
    WHERE status IN ('pending_submit', 'accepted', 'partially_filled', 'pending_cancel');
CREATE INDEX orders_by_strategy ON broker.orders (strategy_id, conid, created_at DESC);

CREATE TABLE broker.fills (
    exec_id       text PRIMARY KEY,
    client_ref    text NOT NULL REFERENCES broker.orders (client_ref),
    quantity      numeric NOT NULL CHECK (quantity > 0),
    price         numeric NOT NULL CHECK (price > 0),
    commission    numeric NOT NULL DEFAULT 0,
    realized_pnl  numeric NOT NULL DEFAULT 0,
    filled_at     timestamptz NOT NULL,
    recorded_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX fills_by_order ON broker.fills (client_ref, filled_at);

-- One row per instrument ever held; quantity 0 once closed (its realized P&L stays).
CREATE TABLE broker.positions (
    conid         bigint PRIMARY KEY REFERENCES broker.instruments (conid),
    quantity      numeric NOT NULL,
    average_cost  numeric NOT NULL,
    realized_pnl  numeric NOT NULL DEFAULT 0,
    opened_at     timestamptz,
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- The account: exactly one row.
CREATE TABLE broker.account (
    id            boolean PRIMARY KEY DEFAULT true CHECK (id),
    venue         text NOT NULL,
    mode          text NOT NULL CHECK (mode IN ('paper', 'live')),
    account_id    text NOT NULL DEFAULT '',
    currency      text NOT NULL DEFAULT 'USD',
    initial_cash  numeric NOT NULL,
    cash          numeric NOT NULL,
    connected     boolean NOT NULL DEFAULT true,
    updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE broker.snapshots (
    id               bigserial PRIMARY KEY,
    taken_at         timestamptz NOT NULL,
    reason           text NOT NULL CHECK (reason IN ('schedule', 'fill', 'reconcile')),
    cash             numeric NOT NULL,
    equity           numeric NOT NULL,
    gross_exposure   numeric NOT NULL,
    realized_pnl     numeric NOT NULL,
    unrealized_pnl   numeric NOT NULL,
    daily_pnl        numeric NOT NULL,
    open_positions   integer NOT NULL
);
CREATE INDEX snapshots_by_time ON broker.snapshots (taken_at);

-- The risk engine's state and limits: exactly one row; every change is kept in risk_events.
CREATE TABLE broker.risk (
    id          boolean PRIMARY KEY DEFAULT true CHECK (id),
    state       text NOT NULL CHECK (state IN ('ACTIVE', 'REDUCING', 'HALTED')),
    reason      text NOT NULL DEFAULT '',
    changed_by  text NOT NULL DEFAULT 'system',
    changed_at  timestamptz NOT NULL DEFAULT now(),
    limits      jsonb NOT NULL
);

CREATE TABLE broker.risk_events (
    id          bigserial PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    kind        text NOT NULL CHECK (kind IN ('state', 'limits')),
    state       text,
    reason      text NOT NULL,
    changed_by  text NOT NULL,
    limits      jsonb
);

-- Differences found when reconciling with the venue after a restart or reconnect, and what was done.
CREATE TABLE broker.reconciliations (
    id          bigserial PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    kind        text NOT NULL,
    client_ref  text,
    conid       bigint,
    detail      text NOT NULL
);

-- Events committed with the change they describe, published afterwards (transactional outbox).
CREATE TABLE broker.outbox (
    sequence      bigserial PRIMARY KEY,
    message_id    uuid NOT NULL UNIQUE,
    subject       text NOT NULL,
    payload       jsonb NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    published_at  timestamptz
);
CREATE INDEX outbox_unpublished ON broker.outbox (sequence) WHERE published_at IS NULL;
