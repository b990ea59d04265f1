-- The executions list filtered by trigger (GET /api/executions?trigger=): newest first within one
-- trigger, so a rare one (replay, manual_order) is found without walking every execution.
CREATE INDEX executions_by_trigger ON lineage.executions (trigger, started_at DESC);

-- A replay from a later step than the first had no trigger recorded (only an ExecutionRequested
-- carried one); the lineage now records every replay's as 'replay', and so do the ones before.
UPDATE lineage.executions SET trigger = 'replay' WHERE trigger IS NULL AND replay_of IS NOT NULL;
