-- Trading guardrails: a signal the broker skipped (a replay, a redrive, a strategy that no longer
-- trades) is recorded in the lineage as a step with status 'skipped' and the reason.
ALTER TABLE lineage.steps DROP CONSTRAINT steps_status_check;
ALTER TABLE lineage.steps
    ADD CONSTRAINT steps_status_check CHECK (status IN ('succeeded', 'rejected', 'failed', 'skipped'));
