-- The request log: one row per request the data planes served or refused. Best-effort (records
-- may be dropped under pressure), kept for `[logs] retention_days`; not the usage ledger.
CREATE TABLE request_logs (
    id BIGSERIAL PRIMARY KEY,
    request_id TEXT NOT NULL,
    occurred_at_ms BIGINT NOT NULL,
    route TEXT NOT NULL,
    virtual_key_id TEXT,
    team_id TEXT,
    customer_id TEXT,
    provider TEXT,
    model TEXT,
    key_name TEXT,
    status INTEGER NOT NULL,
    error_code TEXT,
    attempts INTEGER NOT NULL CHECK (attempts >= 0),
    latency_ms BIGINT NOT NULL CHECK (latency_ms >= 0),
    ttft_ms BIGINT CHECK (ttft_ms >= 0),
    stream BOOLEAN NOT NULL,
    prompt_tokens BIGINT NOT NULL CHECK (prompt_tokens >= 0),
    completion_tokens BIGINT NOT NULL CHECK (completion_tokens >= 0),
    cost_micros BIGINT NOT NULL CHECK (cost_micros >= 0),
    cache TEXT NOT NULL,
    -- JSON {"request": ..., "response": ...} when the key has `log_content`; else NULL.
    content TEXT
);
-- Newest first, by time (retention deletes and time ranges use it too).
CREATE INDEX request_logs_time ON request_logs (occurred_at_ms, id);
CREATE INDEX request_logs_virtual_key ON request_logs (virtual_key_id, occurred_at_ms);
CREATE INDEX request_logs_provider ON request_logs (provider, occurred_at_ms);
CREATE INDEX request_logs_model ON request_logs (model, occurred_at_ms);
CREATE INDEX request_logs_status ON request_logs (status, occurred_at_ms);
