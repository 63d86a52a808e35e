-- Participant imports (an uploaded file, its mapping and its report), the mapping a tenant last
-- used per export format, provider accounts with encrypted credentials, and scheduled syncs.

-- How the event's chip codes are spelled once normalised (app.domain.reads.normalize_tag):
-- strip_zeros makes '009573' and '9573' one chip; exact keeps them apart.
ALTER TABLE events
    ADD COLUMN tag_mode text NOT NULL DEFAULT 'strip_zeros'
        CHECK (tag_mode IN ('strip_zeros', 'exact'));

-- One uploaded participant file and what became of it. The file is kept in the database so
-- any app worker can preview, import and report it.
CREATE TABLE participant_uploads (
    id           bigserial PRIMARY KEY,
    tenant_id    bigint NOT NULL,
    event_id     bigint NOT NULL,
    user_id      bigint REFERENCES users (id) ON DELETE SET NULL,
    filename     text NOT NULL,
    format       text NOT NULL,
    content      bytea NOT NULL,
    total_lines  integer NOT NULL,
    mapping      jsonb NOT NULL DEFAULT '{}',
    removal      text NOT NULL DEFAULT 'keep' CHECK (removal IN ('keep', 'delete')),
    state        text NOT NULL DEFAULT 'uploaded'
        CHECK (state IN ('uploaded', 'running', 'done', 'failed')),
    dry_run      boolean NOT NULL DEFAULT false,
    rows_read    integer NOT NULL DEFAULT 0,
    counts       jsonb,
    error_count  integer NOT NULL DEFAULT 0,
    errors_csv   text,
    message      text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (tenant_id, event_id) REFERENCES events (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX participant_uploads_event_idx ON participant_uploads (event_id, created_at DESC);

-- The column mapping a tenant last imported with, per export format.
CREATE TABLE import_mappings (
    tenant_id   bigint NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    format      text NOT NULL,
    mapping     jsonb NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, format)
);

-- A tenant's login at a registration or scoring provider. `secret` is a Fernet token under
-- RACEDISPLAY_CREDENTIALS_KEY (app.providers.secrets); it is never sent back to a browser.
CREATE TABLE provider_accounts (
    id          bigserial PRIMARY KEY,
    tenant_id   bigint NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    provider    text NOT NULL,
    label       text NOT NULL,
    secret      bytea NOT NULL,
    created_by  bigint REFERENCES users (id) ON DELETE SET NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, id)
);

-- One provider race feeding one event: which sub-events land under which name, how often to
-- re-sync, and how the last run went. `cursor` is the provider's change mark of the last
-- complete run, for incremental syncs.
CREATE TABLE event_syncs (
    id             bigserial PRIMARY KEY,
    tenant_id      bigint NOT NULL,
    event_id       bigint NOT NULL,
    account_id     bigint NOT NULL,
    race_id        text NOT NULL,
    race_name      text NOT NULL DEFAULT '',
    sub_events     jsonb NOT NULL DEFAULT '{}',
    every_minutes  integer CHECK (every_minutes BETWEEN 5 AND 1440),
    until_at       timestamptz,
    next_run_at    timestamptz,
    cursor_at      timestamptz,
    state          text NOT NULL DEFAULT 'idle' CHECK (state IN ('idle', 'running', 'done', 'failed')),
    progress       integer NOT NULL DEFAULT 0,
    counts         jsonb,
    message        text NOT NULL DEFAULT '',
    last_run_at    timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (tenant_id, event_id) REFERENCES events (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, account_id) REFERENCES provider_accounts (tenant_id, id)
        ON DELETE CASCADE,
    UNIQUE (event_id, account_id, race_id)
);
CREATE INDEX event_syncs_due_idx ON event_syncs (next_run_at) WHERE next_run_at IS NOT NULL;

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['participant_uploads', 'import_mappings', 'provider_accounts',
                             'event_syncs']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format(
            'CREATE POLICY tenant_rows ON %I TO racedisplay_app'
            ' USING (tenant_id = current_tenant_id()) WITH CHECK (tenant_id = current_tenant_id())',
            t);
    END LOOP;
END
$$;
