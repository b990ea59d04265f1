-- Strategies, owned by the gateway; read by the scheduler.
CREATE SCHEMA IF NOT EXISTS gateway;

CREATE TABLE gateway.strategies (
    id          uuid PRIMARY KEY,
    name        text NOT NULL UNIQUE,
    definition  jsonb NOT NULL,
    active      boolean NOT NULL,
    cron        text NOT NULL,
    timezone    text NOT NULL,
    version     integer NOT NULL DEFAULT 1,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- The scheduler listens on this channel to notice created, changed and deleted strategies.
CREATE FUNCTION gateway.notify_strategies_changed() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('strategies_changed', COALESCE(NEW.id, OLD.id)::text);
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER strategies_changed
    AFTER INSERT OR UPDATE OR DELETE ON gateway.strategies
    FOR EACH ROW EXECUTE FUNCTION gateway.notify_strategies_changed();
