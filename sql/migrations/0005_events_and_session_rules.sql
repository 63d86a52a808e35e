-- Event locations, provider keys and the session picker: how a tenant shapes what feeds an event.

-- A key the tenant issues for one event; a provider that sends it (as its connection id or
-- as a location prefix, `rd-7K3QX9.FINISH`) joins that event. Unique across tenants,
-- compared without case since people type it into SimpleClient by hand.
ALTER TABLE events ADD COLUMN provider_key text
    CHECK (provider_key ~ '^rd-[A-Z0-9]{6}$');
CREATE UNIQUE INDEX events_provider_key_key ON events (upper(provider_key))
    WHERE provider_key IS NOT NULL;

-- The timing points of an event as the organiser names them; displays keep their own filter.
CREATE TABLE event_locations (
    id          bigserial PRIMARY KEY,
    tenant_id   bigint NOT NULL,
    event_id    bigint NOT NULL,
    name        text NOT NULL CHECK (name <> '' AND length(name) <= 100),
    kind        text NOT NULL CHECK (kind IN ('start', 'split', 'announcer', 'finish')),
    position    integer NOT NULL,
    FOREIGN KEY (tenant_id, event_id) REFERENCES events (tenant_id, id) ON DELETE CASCADE,
    UNIQUE (event_id, name)
);
CREATE INDEX event_locations_tenant_event_idx ON event_locations (tenant_id, event_id, position);

-- What a tenant calls a session; session_name stays as the collector made it.
ALTER TABLE timing_sessions ADD COLUMN display_name text NOT NULL DEFAULT ''
    CHECK (length(display_name) <= 100);

-- A session's event belongs to the session's tenant, whoever set it (a rule, the tenant, an
-- admin). Rows that break this (an event id without its tenant) lose the event first.
UPDATE timing_sessions ts
   SET event_id = NULL
 WHERE ts.event_id IS NOT NULL
   AND NOT EXISTS (SELECT 1 FROM events e
                    WHERE e.id = ts.event_id AND e.tenant_id = ts.tenant_id);
ALTER TABLE timing_sessions
    ADD CONSTRAINT timing_sessions_event_needs_tenant CHECK (event_id IS NULL OR tenant_id IS NOT NULL),
    ADD CONSTRAINT timing_sessions_tenant_event_fkey FOREIGN KEY (tenant_id, event_id)
        REFERENCES events (tenant_id, id) ON DELETE SET NULL (event_id);
CREATE INDEX timing_sessions_tenant_idx ON timing_sessions (tenant_id, event_id);
