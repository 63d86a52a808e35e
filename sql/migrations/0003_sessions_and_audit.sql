-- Server-side web sessions, login throttling and the audit log.

-- id is the SHA-256 of the cookie's session id, so a leaked table cannot be replayed as cookies.
CREATE TABLE web_sessions (
    id          text PRIMARY KEY,
    data        bytea NOT NULL,
    expires_at  timestamptz NOT NULL
);
CREATE INDEX web_sessions_expires_idx ON web_sessions (expires_at);

-- One row per failed sign-in; counted per account (lower-cased e-mail) and per address.
CREATE TABLE login_failures (
    id     bigserial PRIMARY KEY,
    email  text NOT NULL,
    ip     text NOT NULL,
    at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX login_failures_email_idx ON login_failures (email, at);
CREATE INDEX login_failures_ip_idx ON login_failures (ip, at);

-- tenant_id is NULL for platform-level entries; user_id is NULL when nobody was signed in.
CREATE TABLE audit_log (
    id         bigserial PRIMARY KEY,
    tenant_id  bigint REFERENCES tenants (id) ON DELETE CASCADE,
    user_id    bigint REFERENCES users (id) ON DELETE SET NULL,
    action     text NOT NULL,
    detail     jsonb NOT NULL DEFAULT '{}',
    ip         text NOT NULL DEFAULT '',
    at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_log_tenant_idx ON audit_log (tenant_id, at DESC);
