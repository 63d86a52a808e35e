-- Display templates designed in the builder. A template's layout is data (JSON elements that
-- our Jinja macros render), never Jinja written by a user. Every save is a new version.
CREATE TABLE display_templates (
    id          bigserial PRIMARY KEY,
    tenant_id   bigint NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 120),
    created_at  timestamptz NOT NULL DEFAULT now(),
    archived_at timestamptz
);
CREATE INDEX display_templates_tenant_idx ON display_templates (tenant_id);

CREATE TABLE display_template_versions (
    id          bigserial PRIMARY KEY,
    tenant_id   bigint NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    template_id bigint NOT NULL REFERENCES display_templates (id) ON DELETE CASCADE,
    version     integer NOT NULL CHECK (version >= 1),
    -- The canvas and its elements (app.domain.templates.Layout as JSON).
    layout      jsonb NOT NULL,
    author_id   bigint REFERENCES users (id) ON DELETE SET NULL,
    -- What the author said about this save, or "Reverted to version N".
    note        text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (template_id, version)
);

-- A display shows a template: its latest version, or the version it is pinned to.
ALTER TABLE displays
    ADD COLUMN template_id      bigint REFERENCES display_templates (id) ON DELETE SET NULL,
    ADD COLUMN template_version integer CHECK (template_version >= 1);

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['display_templates', 'display_template_versions']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format(
            'CREATE POLICY tenant_rows ON %I TO racedisplay_app'
            ' USING (tenant_id = current_tenant_id()) WITH CHECK (tenant_id = current_tenant_id())',
            t);
    END LOOP;
END
$$;
