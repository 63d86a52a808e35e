-- name: find_active_session
SELECT id, session_name, tenant_id, event_id
  FROM timing_sessions
 WHERE provider_identity = %(provider_identity)s AND status = 'active';

-- name: create_session
INSERT INTO timing_sessions (session_name, provider_identity, provider_program, provider_version)
VALUES (%(session_name)s, %(provider_identity)s, %(provider_program)s, %(provider_version)s)
ON CONFLICT (provider_identity) WHERE status = 'active' DO UPDATE SET updated_at = now()
RETURNING id, session_name, tenant_id, event_id;

-- name: claim_session_by_ct_event
-- Records the provider's event; a session no tenant owns yet reaches a tenant only through an
-- event that registered its ChronoTrack event id. An id registered by two live events is
-- ambiguous and claims nothing. An owned session keeps its tenant and event (the tenant may
-- have moved or detached it). Returns the session's tenant and event after the update.
WITH m AS (
    SELECT min(e.tenant_id) AS tenant_id, min(e.id) AS event_id
      FROM events e
     WHERE e.ct_event_id = %(ct_event_id)s AND e.archived_at IS NULL
    HAVING count(*) = 1
)
UPDATE timing_sessions ts
   SET ct_event_id = %(ct_event_id)s,
       ct_event_name = %(ct_event_name)s,
       tenant_id = CASE WHEN ts.tenant_id IS NULL THEN (SELECT tenant_id FROM m)
                        ELSE ts.tenant_id END,
       event_id = CASE WHEN ts.tenant_id IS NULL THEN (SELECT event_id FROM m)
                       ELSE ts.event_id END,
       updated_at = now()
 WHERE ts.id = %(session_id)s
RETURNING ts.tenant_id, ts.event_id;

-- name: claim_session_by_provider_key
-- The second rule: a provider key a tenant issued for one of its live events. Only a session
-- no tenant owns yet is claimed; no row means nothing changed.
UPDATE timing_sessions ts
   SET tenant_id = e.tenant_id, event_id = e.id, updated_at = now()
  FROM events e
 WHERE ts.id = %(session_id)s
   AND ts.tenant_id IS NULL
   AND upper(e.provider_key) = upper(%(provider_key)s)
   AND e.archived_at IS NULL
RETURNING ts.tenant_id, ts.event_id;

-- name: session_claims
-- What the collector re-reads every few seconds for its open sessions: a tenant may have
-- moved, detached, ended or archived one, or an admin assigned it.
SELECT id, tenant_id, event_id, status
  FROM timing_sessions
 WHERE id = ANY(%(session_ids)s);

-- name: touch_active_sessions
-- Before a cleanup: a session with a provider connected now is not idle, however old.
UPDATE timing_sessions SET updated_at = now()
 WHERE id = ANY(%(session_ids)s) AND status = 'active';

-- name: cleanup_old_sessions
SELECT cleanup_old_sessions(%(days_old)s);

-- name: ensure_location
INSERT INTO timing_locations (session_id, location_name, reader_id)
VALUES (%(session_id)s, %(location_name)s, %(reader_id)s)
ON CONFLICT (session_id, location_name) DO UPDATE SET location_name = EXCLUDED.location_name
RETURNING id;

-- name: create_read_staging
CREATE TEMP TABLE IF NOT EXISTS read_staging (
    session_id bigint, location_id bigint, sequence_number bigint, location_name text,
    tag_code text, read_time text, read_at timestamptz, lap_count integer, reader_id text,
    gator_number integer, raw_line text, received_at timestamptz
) ON COMMIT DELETE ROWS;

-- name: copy_read_staging
COPY read_staging (session_id, location_id, sequence_number, location_name, tag_code, read_time,
                   read_at, lap_count, reader_id, gator_number, raw_line, received_at)
FROM STDIN;

-- name: insert_staged_reads
-- Idempotent: a re-stream or a resume hits the unique key and adds nothing. In the same
-- statement, new guntime reads become gun starts and each location's resume point moves
-- up to the highest seq of the batch (repeats included: they are durable too).
WITH inserted AS (
    INSERT INTO timing_reads (session_id, location_id, sequence_number, location_name, tag_code,
                              read_time, read_at, lap_count, reader_id, gator_number, raw_line,
                              received_at)
    SELECT session_id, location_id, sequence_number, location_name, tag_code, read_time, read_at,
           lap_count, reader_id, gator_number, raw_line, received_at
      FROM read_staging
     ORDER BY read_at
    ON CONFLICT ON CONSTRAINT timing_reads_idempotency_key DO NOTHING
    RETURNING id, session_id, location_id, location_name, tag_code, read_at, sequence_number,
              lap_count
), guns AS (
    INSERT INTO timing_gun_starts (session_id, location_id, read_id, gun_at)
    SELECT session_id, location_id, id, read_at FROM inserted WHERE lower(tag_code) = 'guntime'
), resume AS (
    UPDATE timing_locations l
       SET last_sequence = greatest(l.last_sequence, s.last_sequence)
      FROM (SELECT location_id, max(sequence_number) AS last_sequence
              FROM read_staging GROUP BY location_id) s
     WHERE l.id = s.location_id
)
SELECT id, session_id, location_name, tag_code, read_at, sequence_number, lap_count
  FROM inserted
 ORDER BY id;

-- name: reserve_read_ids
-- Ids for a batch COPied straight into timing_reads, taken in the order the rows are written.
SELECT nextval('timing_reads_id_seq') FROM generate_series(1, %(count)s);

-- name: copy_new_reads
-- The fast path for a batch with no repeat: any repeat fails the COPY on the unique key and
-- the batch takes insert_staged_reads instead.
COPY timing_reads (id, session_id, location_id, sequence_number, location_name, tag_code,
                   read_time, read_at, lap_count, reader_id, gator_number, raw_line, received_at)
FROM STDIN;

-- name: record_copied_reads
-- What insert_staged_reads does beside inserting, for a batch that took the fast path: its
-- guntime reads become gun starts and each location's resume point moves up.
WITH guns AS (
    INSERT INTO timing_gun_starts (session_id, location_id, read_id, gun_at)
    SELECT * FROM unnest(%(gun_session_ids)s::bigint[], %(gun_location_ids)s::bigint[],
                         %(gun_read_ids)s::bigint[], %(gun_times)s::timestamptz[])
)
UPDATE timing_locations l
   SET last_sequence = greatest(l.last_sequence, s.last_sequence)
  FROM unnest(%(location_ids)s::bigint[], %(last_sequences)s::bigint[]) AS s(id, last_sequence)
 WHERE l.id = s.id;

-- name: resume_points
-- Where each location of a session resumes: its highest durably stored seq.
SELECT location_name, last_sequence
  FROM timing_locations
 WHERE session_id = %(session_id)s AND last_sequence IS NOT NULL;

-- name: touch_session
UPDATE timing_sessions SET updated_at = now() WHERE id = %(session_id)s;

-- name: count_reads
SELECT count(*) FROM timing_reads;

-- name: session_reads_after
-- Reads of an event's sessions after a given id: what a reconnecting screen missed.
SELECT r.id, r.session_id, r.location_name, r.tag_code, r.read_at, r.sequence_number, r.lap_count
  FROM timing_reads r
  JOIN timing_sessions s ON s.id = r.session_id
 WHERE s.event_id = %(event_id)s AND s.tenant_id = %(tenant_id)s AND r.id > %(after_id)s
 ORDER BY r.id
 LIMIT %(limit)s;

-- name: latest_event_reads
SELECT r.id, r.session_id, r.location_name, r.tag_code, r.read_at, r.sequence_number, r.lap_count
  FROM timing_reads r
  JOIN timing_sessions s ON s.id = r.session_id
 WHERE s.event_id = %(event_id)s AND s.tenant_id = %(tenant_id)s
 ORDER BY r.id DESC
 LIMIT %(limit)s;

-- name: session_stats_for_event
-- The sessions feeding one event of a tenant; archived ones are left out.
SELECT s.id, s.session_name, s.provider_identity, s.status, s.total_reads, s.unique_tags,
       s.total_locations, s.first_read, s.last_read, ts.display_name, ts.event_id,
       ts.ct_event_id
  FROM timing_session_stats s
  JOIN timing_sessions ts ON ts.id = s.id
 WHERE ts.event_id = %(event_id)s AND ts.tenant_id = %(tenant_id)s AND ts.status <> 'archived'
 ORDER BY s.created_at DESC, s.provider_identity;

-- name: latest_event_gun_time
-- The gun a display counts elapsed time from: the newest gun start of the event's sessions.
SELECT g.gun_at
  FROM timing_gun_starts g
  JOIN timing_sessions s ON s.id = g.session_id
 WHERE s.event_id = %(event_id)s AND s.tenant_id = %(tenant_id)s
 ORDER BY g.read_id DESC
 LIMIT 1;

-- name: insert_reject
-- Keyed by the collector, so draining a spool twice stores each rejected line once.
INSERT INTO timing_rejects (reject_key, session_id, peer, reason, detail, raw_line, received_at)
VALUES (%s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (reject_key) DO NOTHING;

-- name: count_rejects
SELECT count(*) FROM timing_rejects;

-- name: event_tag_mode
-- How the event's chip codes are normalised (app.domain.reads.TAG_MODES); None: no such event.
SELECT tag_mode FROM events WHERE id = %(event_id)s;

-- name: event_chip_codes
-- Every chip code that names a participant of the event (stored normalised under the event's
-- tag mode), for decoder health: registered chips, and chip-file chips on a bib somebody wears.
SELECT chip_code FROM participant_chips WHERE event_id = %(event_id)s
UNION
SELECT cb.chip_code
  FROM chip_bibs cb JOIN participants p ON p.event_id = cb.event_id AND p.bib = cb.bib
 WHERE cb.event_id = %(event_id)s;
