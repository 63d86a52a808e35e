-- Invitations into a tenant and one-time password reset links; only token hashes are kept.

-- A link (`/invite/<token>`) that lets one person join a tenant with a given role. The
-- token itself is shown once to whoever created it; the table keeps its SHA-256, so a
-- copy of the database cannot be turned into working links.
CREATE TABLE invitations (
    id           bigserial PRIMARY KEY,
    tenant_id    bigint NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    email        text NOT NULL CHECK (email <> '' AND length(email) <= 254),
    role         text NOT NULL CHECK (role IN ('owner', 'admin', 'operator')),
    token_hash   text NOT NULL UNIQUE CHECK (token_hash ~ '^[0-9a-f]{64}$'),
    -- NULL when made at the command line (`racedisplay create-tenant`).
    created_by   bigint REFERENCES users (id) ON DELETE SET NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    accepted_at  timestamptz,
    revoked_at   timestamptz,
    CHECK (accepted_at IS NULL OR revoked_at IS NULL)
);
CREATE INDEX invitations_pending_idx ON invitations (tenant_id, lower(email))
    WHERE accepted_at IS NULL AND revoked_at IS NULL;

-- A link (`/reset/<token>`) that sets a new password once. It lives 24 hours rather than
-- the usual 1: a person hands it over (an owner copies it from the team page, an operator
-- runs `racedisplay reset-link`), often to someone at a venue in another time zone, and
-- it is useless after one use or once a newer link for the same user is made.
CREATE TABLE password_resets (
    id          bigserial PRIMARY KEY,
    user_id     bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash  text NOT NULL UNIQUE CHECK (token_hash ~ '^[0-9a-f]{64}$'),
    -- NULL when made at the command line (`racedisplay reset-link`).
    created_by  bigint REFERENCES users (id) ON DELETE SET NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz
);
CREATE INDEX password_resets_user_idx ON password_resets (user_id) WHERE used_at IS NULL;
