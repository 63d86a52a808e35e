-- Message queues: one per event (display_id NULL) and one per display. A screen shows its
-- event's messages and its own, as a scrolling ticker or full-screen between runners.

-- The key a message's display reference needs, so a message can only name a display of its
-- own event and tenant (a unique index serves a foreign key as well as a constraint does).
CREATE UNIQUE INDEX IF NOT EXISTS displays_tenant_event_id_idx
    ON displays (tenant_id, event_id, id);

CREATE TABLE display_messages (
    id           bigserial PRIMARY KEY,
    tenant_id    bigint NOT NULL,
    event_id     bigint NOT NULL,
    -- NULL: the whole event's queue, shown on every display of the event.
    display_id   bigint,
    body         text NOT NULL CHECK (char_length(body) BETWEEN 1 AND 500),
    style        text NOT NULL DEFAULT 'ticker' CHECK (style IN ('ticker', 'fullscreen')),
    -- How long a full-screen message stays up between runners.
    seconds      integer NOT NULL DEFAULT 8 CHECK (seconds BETWEEN 3 AND 120),
    -- Order within its queue; gaps are fine, ties fall back to the id.
    position     integer NOT NULL DEFAULT 0,
    -- Shown from (inclusive) until (exclusive); NULL: no bound on that side.
    show_from    timestamptz,
    show_until   timestamptz,
    created_by   bigint REFERENCES users (id) ON DELETE SET NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CHECK (show_from IS NULL OR show_until IS NULL OR show_from < show_until),
    FOREIGN KEY (tenant_id, event_id) REFERENCES events (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, event_id, display_id) REFERENCES displays (tenant_id, event_id, id)
        ON DELETE CASCADE
);
CREATE INDEX display_messages_queue_idx ON display_messages (event_id, display_id, position);

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['display_messages']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format(
            'CREATE POLICY tenant_rows ON %I TO racedisplay_app'
            ' USING (tenant_id = current_tenant_id()) WITH CHECK (tenant_id = current_tenant_id())',
            t);
    END LOOP;
END
$$;
