-- Lineage retention: a step older than TRADELANE_LINEAGE_DETAIL_DAYS keeps only a summary of its message.
-- The summary replaces the message in payload (still NOT NULL: every reader gets a JSON object), and
-- pruned_at says when, so a reader never takes the summary for the message.
ALTER TABLE lineage.steps ADD COLUMN pruned_at timestamptz;
-- the pruning chore's next batch: the oldest steps not pruned yet
CREATE INDEX steps_to_prune ON lineage.steps (occurred_at) WHERE pruned_at IS NULL;
