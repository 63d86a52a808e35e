-- What the collector needs to never lose a read: resume points, gun starts, rejected lines.
-- (Must stay forward-only: later changes go into new numbered files.)

-- The highest sequence number durably stored per session and location: what a
-- reconnecting provider is asked to resume after (`start~<location>~<last + 1>`).
ALTER TABLE timing_locations ADD COLUMN last_sequence bigint;

-- A `guntime` control read is the gun start of its session and location, not an athlete.
-- Several per location are normal (waves); the read itself stays in timing_reads too.
CREATE TABLE timing_gun_starts (
    id               bigserial PRIMARY KEY,
    session_id       bigint NOT NULL REFERENCES timing_sessions (id) ON DELETE CASCADE,
    location_id      bigint NOT NULL REFERENCES timing_locations (id) ON DELETE CASCADE,
    read_id          bigint NOT NULL REFERENCES timing_reads (id) ON DELETE CASCADE UNIQUE,
    gun_at           timestamptz NOT NULL
);
CREATE INDEX timing_gun_starts_session_idx ON timing_gun_starts (session_id, gun_at);

-- Lines a provider sent that are not valid reads or protocol: kept with their bytes.
CREATE TABLE timing_rejects (
    id           bigserial PRIMARY KEY,
    -- Made by the collector when it rejects the line, so a spool drained twice adds it once.
    reject_key   uuid NOT NULL UNIQUE,
    -- NULL when the line came before the connection had a session (a bad greeting, say).
    session_id   bigint REFERENCES timing_sessions (id) ON DELETE CASCADE,
    peer         text NOT NULL,
    reason       text NOT NULL,
    detail       text NOT NULL,
    raw_line     bytea NOT NULL,
    received_at  timestamptz NOT NULL
);
CREATE INDEX timing_rejects_session_idx ON timing_rejects (session_id, id);
