-- Sluice control-plane schema (PostgreSQL). Keep in step with ../sqlite/0001_control_plane.sql.
--
-- Every entity is a JSON document in the shape of its sluice-core config type (`doc`); the
-- columns beside it exist only for uniqueness and referential integrity. Provider key values
-- inside `providers.doc` are AES-256-GCM ciphertexts ("enc:v1:..."), or `env.VAR` references.

-- One row. Bumped in the same transaction as every config change; writers lock this row first,
-- which serialises config writes (read-modify-write merges and parent/child checks stay exact).
CREATE TABLE config_version (
    id SMALLINT PRIMARY KEY CHECK (id = 1),
    version BIGINT NOT NULL CHECK (version >= 0)
);
INSERT INTO config_version (id, version) VALUES (1, 0);

-- Process-wide sections of the config (server, mock, dispatch, governance.require_virtual_key)
-- that a seed file brings; one row.
CREATE TABLE settings (
    id SMALLINT PRIMARY KEY CHECK (id = 1),
    doc JSONB NOT NULL
);

CREATE TABLE providers (
    name TEXT PRIMARY KEY,
    doc JSONB NOT NULL,
    updated_at_ms BIGINT NOT NULL
);

CREATE TABLE customers (
    id TEXT PRIMARY KEY,
    doc JSONB NOT NULL,
    updated_at_ms BIGINT NOT NULL
);

CREATE TABLE teams (
    id TEXT PRIMARY KEY,
    customer_id TEXT REFERENCES customers (id) ON DELETE RESTRICT,
    doc JSONB NOT NULL,
    updated_at_ms BIGINT NOT NULL
);
CREATE INDEX teams_customer_id ON teams (customer_id);

CREATE TABLE virtual_keys (
    id TEXT PRIMARY KEY,
    -- SHA-256 (hex) of the credential; the credential itself is never stored.
    value_hash TEXT NOT NULL UNIQUE,
    team_id TEXT REFERENCES teams (id) ON DELETE RESTRICT,
    customer_id TEXT REFERENCES customers (id) ON DELETE RESTRICT,
    doc JSONB NOT NULL,
    updated_at_ms BIGINT NOT NULL
);
CREATE INDEX virtual_keys_team_id ON virtual_keys (team_id);
CREATE INDEX virtual_keys_customer_id ON virtual_keys (customer_id);

-- Settled usage, one row per request. `request_id` makes re-sent batches idempotent. No foreign
-- keys: the ledger outlives the keys, teams and customers it names.
CREATE TABLE usage_ledger (
    request_id TEXT PRIMARY KEY,
    virtual_key_id TEXT,
    team_id TEXT,
    customer_id TEXT,
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    prompt_tokens BIGINT NOT NULL CHECK (prompt_tokens >= 0),
    completion_tokens BIGINT NOT NULL CHECK (completion_tokens >= 0),
    -- USD in millionths, exact (no float rounding when summed).
    cost_micros BIGINT NOT NULL CHECK (cost_micros >= 0),
    occurred_at_ms BIGINT NOT NULL
);
CREATE INDEX usage_ledger_virtual_key ON usage_ledger (virtual_key_id, occurred_at_ms);
CREATE INDEX usage_ledger_team ON usage_ledger (team_id, occurred_at_ms);
CREATE INDEX usage_ledger_customer ON usage_ledger (customer_id, occurred_at_ms);
CREATE INDEX usage_ledger_provider ON usage_ledger (provider, occurred_at_ms);
