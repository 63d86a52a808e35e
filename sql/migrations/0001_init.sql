-- Tenants, users, events, participants, the predecessor's timing tables and displays.

CREATE TABLE tenants (
    id          bigserial PRIMARY KEY,
    slug        text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9][a-z0-9-]{1,62}$'),
    name        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- tenant_id is NULL only for platform admins, who sit above tenants.
CREATE TABLE users (
    id             bigserial PRIMARY KEY,
    tenant_id      bigint REFERENCES tenants (id) ON DELETE CASCADE,
    email          text NOT NULL,
    display_name   text NOT NULL DEFAULT '',
    password_hash  text NOT NULL,
    role           text NOT NULL CHECK (role IN ('owner', 'admin', 'operator', 'platform_admin')),
    created_at     timestamptz NOT NULL DEFAULT now(),
    CHECK ((role = 'platform_admin') = (tenant_id IS NULL))
);
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

CREATE TABLE events (
    id           bigserial PRIMARY KEY,
    tenant_id    bigint NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name         text NOT NULL,
    event_date   date,
    time_zone    text NOT NULL DEFAULT 'UTC',
    -- The ChronoTrack event id a provider reports in geteventinfo: how sessions reach this event.
    ct_event_id  text,
    archived_at  timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, id)
);
CREATE INDEX events_ct_event_id_idx ON events (ct_event_id) WHERE ct_event_id IS NOT NULL;

CREATE TABLE participants (
    id          bigserial PRIMARY KEY,
    tenant_id   bigint NOT NULL,
    event_id    bigint NOT NULL,
    bib         text NOT NULL,
    first_name  text NOT NULL DEFAULT '',
    last_name   text NOT NULL DEFAULT '',
    gender      text NOT NULL DEFAULT 'U' CHECK (gender IN ('M', 'F', 'X', 'U')),
    age         integer CHECK (age BETWEEN 0 AND 130),
    city        text NOT NULL DEFAULT '',
    state       text NOT NULL DEFAULT '',
    country     text NOT NULL DEFAULT '',
    team        text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (tenant_id, event_id) REFERENCES events (tenant_id, id) ON DELETE CASCADE,
    UNIQUE (event_id, bib)
);

-- Chip codes are stored normalised (leading zeros stripped), so '009573' and '9573' meet.
CREATE TABLE participant_chips (
    event_id        bigint NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    chip_code       text NOT NULL,
    tenant_id       bigint NOT NULL,
    participant_id  bigint NOT NULL REFERENCES participants (id) ON DELETE CASCADE,
    PRIMARY KEY (event_id, chip_code)
);
CREATE INDEX participant_chips_participant_idx ON participant_chips (participant_id);

-- One session per provider identity; the collector creates it, a tenant rule claims it.
CREATE TABLE timing_sessions (
    id                 bigserial PRIMARY KEY,
    session_name       text NOT NULL,
    tenant_id          bigint REFERENCES tenants (id) ON DELETE SET NULL,
    event_id           bigint REFERENCES events (id) ON DELETE SET NULL,
    status             text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'completed', 'archived')),
    provider_identity  text NOT NULL,
    provider_program   text NOT NULL DEFAULT '',
    provider_version   text NOT NULL DEFAULT '',
    ct_event_id        text,
    ct_event_name      text,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    ended_at           timestamptz
);
CREATE UNIQUE INDEX timing_sessions_active_identity_key
    ON timing_sessions (provider_identity) WHERE status = 'active';
CREATE INDEX timing_sessions_event_idx ON timing_sessions (event_id);

CREATE TABLE timing_locations (
    id             bigserial PRIMARY KEY,
    session_id     bigint NOT NULL REFERENCES timing_sessions (id) ON DELETE CASCADE,
    location_name  text NOT NULL,
    reader_id      text,
    description    text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (session_id, location_name)
);

-- read_time is the time field exactly as sent; read_at is it parsed; received_at is ours.
CREATE TABLE timing_reads (
    id               bigserial PRIMARY KEY,
    session_id       bigint NOT NULL REFERENCES timing_sessions (id) ON DELETE CASCADE,
    location_id      bigint NOT NULL REFERENCES timing_locations (id) ON DELETE CASCADE,
    sequence_number  bigint NOT NULL,
    location_name    text NOT NULL,
    tag_code         text NOT NULL,
    read_time        text NOT NULL,
    read_at          timestamptz NOT NULL,
    lap_count        integer NOT NULL DEFAULT 1,
    reader_id        text NOT NULL DEFAULT '',
    gator_number     integer NOT NULL DEFAULT 0,
    raw_line         text NOT NULL,
    received_at      timestamptz NOT NULL,
    CONSTRAINT timing_reads_idempotency_key
        UNIQUE (session_id, location_name, reader_id, sequence_number, tag_code, read_time)
);
CREATE INDEX timing_reads_session_id_idx ON timing_reads (session_id, id);
CREATE INDEX timing_reads_tag_idx ON timing_reads (session_id, tag_code);

CREATE VIEW timing_session_stats AS
SELECT ts.id,
       ts.session_name,
       ts.provider_identity,
       ts.tenant_id,
       ts.event_id,
       ts.status,
       ts.created_at,
       (SELECT count(*) FROM timing_reads r WHERE r.session_id = ts.id) AS total_reads,
       (SELECT count(DISTINCT r.tag_code) FROM timing_reads r WHERE r.session_id = ts.id) AS unique_tags,
       (SELECT count(*) FROM timing_locations l WHERE l.session_id = ts.id) AS total_locations,
       (SELECT min(r.read_at) FROM timing_reads r WHERE r.session_id = ts.id) AS first_read,
       (SELECT max(r.read_at) FROM timing_reads r WHERE r.session_id = ts.id) AS last_read
FROM timing_sessions ts;

-- Ends sessions idle for days_old days and deletes archived ones older than that; returns both counts summed.
CREATE FUNCTION cleanup_old_sessions(days_old integer DEFAULT 7) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    ended   integer;
    deleted integer;
BEGIN
    UPDATE timing_sessions
       SET status = 'completed', ended_at = now(), updated_at = now()
     WHERE status = 'active'
       AND updated_at < now() - make_interval(days => days_old);
    GET DIAGNOSTICS ended = ROW_COUNT;

    DELETE FROM timing_sessions
     WHERE status = 'archived'
       AND updated_at < now() - make_interval(days => days_old);
    GET DIAGNOSTICS deleted = ROW_COUNT;

    RETURN ended + deleted;
END;
$$;

-- A display is reached by its public 8-character code; revoking keeps the row.
CREATE TABLE displays (
    id                bigserial PRIMARY KEY,
    tenant_id         bigint NOT NULL,
    event_id          bigint NOT NULL,
    code              char(8) NOT NULL UNIQUE CHECK (code ~ '^[a-hjkmnp-z2-9]{8}$'),
    name              text NOT NULL,
    -- Empty means every location.
    locations         text[] NOT NULL DEFAULT '{}',
    display_duration  integer NOT NULL DEFAULT 5000 CHECK (display_duration BETWEEN 500 AND 600000),
    duplicate_window  integer NOT NULL DEFAULT 60 CHECK (duplicate_window >= 0),
    show_unknown      boolean NOT NULL DEFAULT true,
    revoked_at        timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (tenant_id, event_id) REFERENCES events (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX displays_event_idx ON displays (event_id);
