-- The executions list filtered by trigger (GET /api/executions?trigger=): newest first within one
-- trigger, so a rare one (replay, manual_order) is found without walking every execution.
CREATE INDEX executions_by_trigger ON lineage.executions (trigger, started_at DESC);
