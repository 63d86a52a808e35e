-- The participant record of every source (CSV, registration platforms, scoring systems), and
-- the chip file: which chip a timer hung on which bib, independent of who registered.

ALTER TABLE participants
    ADD COLUMN birth_date date,
    ADD COLUMN sub_event  text NOT NULL DEFAULT '',
    ADD COLUMN status     text NOT NULL DEFAULT 'registered'
        CHECK (status IN ('registered', 'cancelled', 'transferred', 'deferred', 'dns', 'dnf',
                          'finished')),
    ADD COLUMN vip        boolean NOT NULL DEFAULT false,
    ADD COLUMN custom     jsonb NOT NULL DEFAULT '{}',
    ADD COLUMN source     text NOT NULL DEFAULT 'manual',
    ADD COLUMN source_id  text,
    ADD COLUMN raw        jsonb;
-- A re-import or a sync finds its own rows by the source's id.
CREATE UNIQUE INDEX participants_source_key ON participants (event_id, source, source_id)
    WHERE source_id IS NOT NULL;

-- Chip codes are stored normalised like participant_chips (app.domain.reads.normalize_tag).
CREATE TABLE chip_bibs (
    tenant_id   bigint NOT NULL,
    event_id    bigint NOT NULL,
    chip_code   text NOT NULL,
    bib         text NOT NULL,
    imported_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (event_id, chip_code),
    FOREIGN KEY (tenant_id, event_id) REFERENCES events (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX chip_bibs_bib_idx ON chip_bibs (event_id, bib);

ALTER TABLE chip_bibs ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_rows ON chip_bibs TO racedisplay_app
    USING (tenant_id = current_tenant_id()) WITH CHECK (tenant_id = current_tenant_id());
GRANT SELECT, INSERT, UPDATE, DELETE ON chip_bibs TO racedisplay_app;
