-- The seed's PostgreSQL audit table, as its migration creates it.
-- Rows are append-only: a row trigger raises on UPDATE and DELETE. It does not block
-- TRUNCATE, and a superuser or the table owner can disable it (see
-- `audit-analytics protections`).
CREATE TABLE audit_logs (
    id UUID PRIMARY KEY,
    timestamp TIMESTAMPTZ NOT NULL,
    actor_id TEXT,
    actor_type TEXT CHECK (actor_type IN ('user', 'service', 'system', 'admin')),
    action TEXT,
    resource_type TEXT,
    resource_id TEXT,
    result TEXT CHECK (result IN ('success', 'failure', 'denied')),
    ip_address INET,
    user_agent TEXT,
    session_id TEXT,
    changed_fields JSONB,
    old_values JSONB,
    reason TEXT,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL UNIQUE
);

CREATE INDEX idx_audit_logs_timestamp ON audit_logs (timestamp);

CREATE OR REPLACE FUNCTION prevent_audit_modification() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit_logs is append-only: % is not allowed', TG_OP;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER audit_logs_immutable
    BEFORE UPDATE OR DELETE ON audit_logs
    FOR EACH ROW EXECUTE FUNCTION prevent_audit_modification();
