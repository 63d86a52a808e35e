-- name: announcer_reads
-- Athlete reads of the event's sessions (archived ones left out) in the last %(hours)s hours
-- before its newest read: (location, normalised chip, read time); control tags are not
-- athletes.
WITH sessions AS (
    SELECT id FROM timing_sessions
     WHERE tenant_id = %(tenant_id)s AND event_id = %(event_id)s AND status <> 'archived'
), reads AS (
    SELECT r.location_name, r.tag_code, r.read_at
      FROM timing_reads r
     WHERE r.session_id IN (SELECT id FROM sessions)
       AND lower(btrim(r.tag_code)) <> ALL(%(control_tags)s::text[])
), bounds AS (
    SELECT max(read_at) - make_interval(hours => %(hours)s) AS since FROM reads
)
SELECT reads.location_name,
       normalize_tag(reads.tag_code, %(exact)s) AS chip,
       reads.read_at
  FROM reads, bounds
 WHERE reads.read_at >= bounds.since;

-- name: announcer_reads_version
-- Changes whenever announcer_reads could answer differently: a new read, or a session joining,
-- leaving or being archived. Each session's newest read id is one index lookup.
SELECT coalesce(array_agg(s.id ORDER BY s.id), '{}') AS sessions,
       coalesce(max(newest.id), 0) AS newest_read
  FROM timing_sessions s
  LEFT JOIN LATERAL (SELECT max(r.id) AS id FROM timing_reads r WHERE r.session_id = s.id)
       AS newest ON true
 WHERE s.tenant_id = %(tenant_id)s AND s.event_id = %(event_id)s AND s.status <> 'archived';

-- name: announcer_reads_after
-- The athlete reads of the event's sessions (archived ones left out) stored after read id
-- %(after)s, with no window: what a cached view folds in since it last looked.
SELECT r.location_name, normalize_tag(r.tag_code, %(exact)s) AS chip, r.read_at
  FROM timing_reads r
 WHERE r.session_id IN (
           SELECT id FROM timing_sessions
            WHERE tenant_id = %(tenant_id)s AND event_id = %(event_id)s AND status <> 'archived')
   AND r.id > %(after)s
   AND lower(btrim(r.tag_code)) <> ALL(%(control_tags)s::text[]);
