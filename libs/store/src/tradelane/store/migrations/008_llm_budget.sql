-- The LLM spending budget: which thresholds of a UTC day's budget have been told on the bus
-- (pipeline.llm.budget_crossed), so that each is told once a day whatever the replicas.
CREATE TABLE llm.budget_crossings (
    day                date NOT NULL,
    threshold_percent  integer NOT NULL CHECK (threshold_percent > 0),
    spent              numeric NOT NULL,
    budget             numeric NOT NULL,
    told_at            timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (day, threshold_percent)
);
