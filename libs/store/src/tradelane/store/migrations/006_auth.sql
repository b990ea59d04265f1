-- API tokens, UI sessions and the audit trail, owned by the gateway (the CLI writes tokens too).
CREATE SCHEMA IF NOT EXISTS auth;

-- A token is stored only as the SHA-256 of its secret; the secret is shown once, at creation.
CREATE TABLE auth.tokens (
    id            uuid PRIMARY KEY,
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    scope         text NOT NULL CHECK (scope IN ('read', 'operate', 'trade', 'admin')),
    secret_sha256 text NOT NULL UNIQUE CHECK (secret_sha256 ~ '^[0-9a-f]{64}$'),
    created_by    text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz,
    revoked_at    timestamptz,
    last_used_at  timestamptz
);
-- A name points at one live token (revoke by name); a revoked token's name may be reused.
CREATE UNIQUE INDEX tokens_live_name ON auth.tokens (name) WHERE revoked_at IS NULL;

-- A web UI login: the cookie carries a random id whose SHA-256 is stored here, so a copy
-- of this table opens no session. A session dies with its token (revoked or expired).
CREATE TABLE auth.sessions (
    id_sha256   text PRIMARY KEY CHECK (id_sha256 ~ '^[0-9a-f]{64}$'),
    token_id    uuid NOT NULL REFERENCES auth.tokens (id),
    csrf_token  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL
);
CREATE INDEX sessions_by_expiry ON auth.sessions (expires_at);

-- Every state-changing request and every token created or revoked, append-only.
CREATE TABLE auth.audit (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at           timestamptz NOT NULL DEFAULT clock_timestamp(),
    token_id     uuid,
    token_name   text,
    scope        text,
    method       text NOT NULL,
    path         text NOT NULL,
    body_sha256  text,
    summary      text NOT NULL DEFAULT '',
    status       integer NOT NULL,
    client       text
);
CREATE INDEX audit_by_time ON auth.audit (at DESC);
CREATE INDEX audit_by_token ON auth.audit (token_name, at DESC);

CREATE FUNCTION auth.refuse_audit_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'auth.audit is append-only: % is refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER audit_rows_are_final
    BEFORE UPDATE OR DELETE ON auth.audit
    FOR EACH ROW EXECUTE FUNCTION auth.refuse_audit_change();

CREATE TRIGGER audit_is_never_truncated
    BEFORE TRUNCATE ON auth.audit
    FOR EACH STATEMENT EXECUTE FUNCTION auth.refuse_audit_change();
