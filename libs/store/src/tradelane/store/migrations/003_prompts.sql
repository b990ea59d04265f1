-- Prompt templates, owned by the gateway; read by the llm-analyst.
-- A template's text is versioned: every change of text adds a row to prompt_template_versions,
-- and old versions stay readable (old executions point to them).
CREATE TABLE gateway.prompt_templates (
    id          uuid PRIMARY KEY,
    name        text NOT NULL UNIQUE,
    type        text NOT NULL CHECK (type IN ('analysis', 'consolidation', 'system')),
    language    text NOT NULL CHECK (language IN ('en', 'zh')),
    strategy_id uuid,
    active      boolean NOT NULL DEFAULT true,
    is_default  boolean NOT NULL DEFAULT false,
    tags        text[] NOT NULL DEFAULT '{}',
    notes       text NOT NULL DEFAULT '',
    version     integer NOT NULL DEFAULT 1,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON COLUMN gateway.prompt_templates.strategy_id IS 'Scope: NULL is global, else the one strategy it is for.';
COMMENT ON COLUMN gateway.prompt_templates.version IS 'The latest version in prompt_template_versions.';

-- At most one default per type, language and scope (global or one strategy).
CREATE UNIQUE INDEX prompt_templates_one_default ON gateway.prompt_templates
    (type, language, COALESCE(strategy_id, '00000000-0000-0000-0000-000000000000'::uuid))
    WHERE is_default;

CREATE TABLE gateway.prompt_template_versions (
    template_id uuid NOT NULL REFERENCES gateway.prompt_templates (id) ON DELETE CASCADE,
    version     integer NOT NULL CHECK (version >= 1),
    text        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (template_id, version)
);

-- Model calls and the response cache, owned by the llm-analyst; usage is read by the gateway.
CREATE SCHEMA IF NOT EXISTS llm;

CREATE TABLE llm.calls (
    id            uuid PRIMARY KEY,
    execution_id  uuid NOT NULL,
    strategy_id   uuid NOT NULL,
    purpose       text NOT NULL CHECK (purpose IN ('analysis', 'consolidation')),
    timeframe     text NOT NULL,
    provider      text NOT NULL,
    model         text NOT NULL,
    status        text NOT NULL CHECK (status IN ('succeeded', 'invalid', 'failed')),
    cached        boolean NOT NULL DEFAULT false,
    tokens_in     integer NOT NULL DEFAULT 0,
    tokens_out    integer NOT NULL DEFAULT 0,
    latency_ms    double precision NOT NULL DEFAULT 0,
    cost          numeric(20, 10),
    error         text,
    record        jsonb NOT NULL,
    occurred_at   timestamptz NOT NULL DEFAULT now()
);
COMMENT ON COLUMN llm.calls.record IS 'The whole LlmCall: prompts, image hashes, raw replies, parsed answer.';
CREATE INDEX calls_by_time ON llm.calls (occurred_at);
CREATE INDEX calls_by_execution ON llm.calls (execution_id, occurred_at);

CREATE TABLE llm.response_cache (
    key           text PRIMARY KEY,
    model         text NOT NULL,
    reply         text NOT NULL,
    tokens_in     integer NOT NULL DEFAULT 0,
    tokens_out    integer NOT NULL DEFAULT 0,
    execution_id  uuid NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    hits          integer NOT NULL DEFAULT 0,
    last_hit_at   timestamptz
);
COMMENT ON COLUMN llm.response_cache.key IS 'sha256 of (model, system prompt, prompt, image sha256s, parameters).';
COMMENT ON COLUMN llm.response_cache.execution_id IS 'The execution whose call answered first.';
