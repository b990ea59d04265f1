-- Stored price history, owned by market-data: the closed bars a backtest reads, fetched from the provider once.
-- Like the symbol cache, rows are per provider: the simulated provider's made-up conids are not IB's.

-- One closed bar (``time`` is its start); a closed bar never changes, so it is written once.
CREATE TABLE market_data.bar_history (
    provider      text NOT NULL,
    conid         bigint NOT NULL CHECK (conid > 0),
    bar_size      text NOT NULL,
    what_to_show  text NOT NULL,
    use_rth       boolean NOT NULL,
    time          timestamptz NOT NULL,
    open          double precision NOT NULL,
    high          double precision NOT NULL,
    low           double precision NOT NULL,
    close         double precision NOT NULL,
    volume        double precision NOT NULL,
    PRIMARY KEY (provider, conid, bar_size, what_to_show, use_rth, time)
);

-- What has been fetched: every bar of the series that starts after ``span_start`` and has closed by
-- ``span_end`` is in bar_history (a span with no bar: the provider had none there). Spans are never merged:
-- a bar that starts before one span's end and closes after it is in neither of two touching spans.
CREATE TABLE market_data.bar_history_spans (
    provider      text NOT NULL,
    conid         bigint NOT NULL CHECK (conid > 0),
    bar_size      text NOT NULL,
    what_to_show  text NOT NULL,
    use_rth       boolean NOT NULL,
    span_start    timestamptz NOT NULL,
    span_end      timestamptz NOT NULL CHECK (span_end >= span_start),
    fetched_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (provider, conid, bar_size, what_to_show, use_rth, span_start)
);
