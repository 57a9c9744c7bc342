-- Audit log of admin changes: who (key) did what (create, update, delete,
-- rotate, revoke, secret) to which row, and which fields the request set.
-- Field names only, never values: some of them are secrets or personal.
-- Written in the same transaction as the change it records.
CREATE TABLE admin_audit (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id       bigint REFERENCES tenants (id),  -- the tenant the row belongs to
    key_id          bigint REFERENCES api_keys (id), -- the key that made the change
    scope           text NOT NULL,
    action          text NOT NULL CHECK (action IN ('create', 'update', 'delete', 'rotate', 'revoke', 'secret')),
    resource        text NOT NULL,
    resource_id     bigint NOT NULL,
    fields          text[] NOT NULL DEFAULT '{}',
    request_id      text,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX admin_audit_tenant ON admin_audit (tenant_id, id);
SELECT afftok_enable_rls('admin_audit');
