-- The audit trail, owned by the lineage service; read by the gateway.
CREATE SCHEMA IF NOT EXISTS lineage;

CREATE TABLE lineage.executions (
    execution_id  uuid PRIMARY KEY,
    strategy_id   uuid NOT NULL,
    status        text NOT NULL CHECK (status IN ('running', 'completed', 'rejected', 'failed')),
    trigger       text,
    replay_of     uuid,
    error         text,
    started_at    timestamptz NOT NULL,
    finished_at   timestamptz,
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX executions_recent ON lineage.executions (started_at DESC);
CREATE INDEX executions_by_strategy ON lineage.executions (strategy_id, started_at DESC);

CREATE TABLE lineage.steps (
    id              bigserial PRIMARY KEY,
    execution_id    uuid NOT NULL REFERENCES lineage.executions (execution_id),
    step            text NOT NULL,
    message_id      uuid NOT NULL,
    causation_id    uuid,
    subject         text NOT NULL,
    stream_sequence bigint,
    status          text NOT NULL CHECK (status IN ('succeeded', 'rejected', 'failed')),
    payload         jsonb NOT NULL,
    error           text,
    duration_ms     double precision,
    occurred_at     timestamptz NOT NULL,
    recorded_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (execution_id, step, message_id)
);
CREATE INDEX steps_by_execution ON lineage.steps (execution_id, occurred_at);
CREATE INDEX steps_by_step ON lineage.steps (step, occurred_at DESC);
