-- The symbol cache, owned by market-data: contracts and search results per provider.
CREATE SCHEMA IF NOT EXISTS market_data;

-- One row per contract a provider told us about, from a search (summary columns only) or a
-- details request (``details`` too). ``fetched_at`` is when the provider last confirmed it.
CREATE TABLE market_data.symbols (
    provider            text NOT NULL,
    conid               bigint NOT NULL CHECK (conid > 0),
    symbol              text NOT NULL,
    asset_type          text NOT NULL,
    primary_exchange    text NOT NULL DEFAULT '',
    currency            text NOT NULL,
    description         text NOT NULL DEFAULT '',
    derivative_types    text[] NOT NULL DEFAULT '{}',
    details             jsonb,
    fetched_at          timestamptz NOT NULL,
    details_fetched_at  timestamptz,
    PRIMARY KEY (provider, conid)
);
CREATE INDEX symbols_by_symbol ON market_data.symbols (provider, upper(symbol) text_pattern_ops);
CREATE INDEX symbols_by_age ON market_data.symbols (provider, fetched_at);

-- What a search text returned, in the provider's order, so a repeated search needs no request.
CREATE TABLE market_data.symbol_searches (
    provider    text NOT NULL,
    query       text NOT NULL,
    conids      bigint[] NOT NULL,
    fetched_at  timestamptz NOT NULL,
    PRIMARY KEY (provider, query)
);
