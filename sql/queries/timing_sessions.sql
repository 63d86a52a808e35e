-- name: get_tenant_session
-- One session of a tenant with its statistics; another tenant's id finds nothing.
SELECT s.id, s.session_name, s.provider_identity, s.status, s.total_reads, s.unique_tags,
       s.total_locations, s.first_read, s.last_read, ts.display_name, ts.event_id,
       ts.ct_event_id
  FROM timing_sessions ts
  JOIN timing_session_stats s ON s.id = ts.id
 WHERE ts.id = %(session_id)s AND ts.tenant_id = %(tenant_id)s;

-- name: detached_sessions
-- A tenant's sessions that feed none of its events (detached by the tenant).
SELECT s.id, s.session_name, s.provider_identity, s.status, s.total_reads, s.unique_tags,
       s.total_locations, s.first_read, s.last_read, ts.display_name, ts.event_id,
       ts.ct_event_id
  FROM timing_sessions ts
  JOIN timing_session_stats s ON s.id = ts.id
 WHERE ts.tenant_id = %(tenant_id)s AND ts.event_id IS NULL AND ts.status <> 'archived'
 ORDER BY s.created_at DESC, s.id DESC;

-- name: unclaimed_sessions
-- Platform admins only: sessions no rule has given to a tenant, newest first.
SELECT s.id, s.session_name, s.provider_identity, s.status, s.total_reads, s.unique_tags,
       s.total_locations, s.first_read, s.last_read, ts.display_name, ts.event_id,
       ts.ct_event_id
  FROM timing_sessions ts
  JOIN timing_session_stats s ON s.id = ts.id
 WHERE ts.tenant_id IS NULL
 ORDER BY s.created_at DESC, s.id DESC
 LIMIT %(limit)s;

-- name: move_session
-- To another live event of the same tenant; nothing matches for a foreign session or event.
UPDATE timing_sessions ts
   SET event_id = e.id, updated_at = now()
  FROM events e
 WHERE ts.id = %(session_id)s AND ts.tenant_id = %(tenant_id)s
   AND e.id = %(event_id)s AND e.tenant_id = %(tenant_id)s AND e.archived_at IS NULL
RETURNING ts.id;

-- name: detach_session
UPDATE timing_sessions SET event_id = NULL, updated_at = now()
 WHERE id = %(session_id)s AND tenant_id = %(tenant_id)s
RETURNING id;

-- name: rename_session
UPDATE timing_sessions SET display_name = %(display_name)s, updated_at = now()
 WHERE id = %(session_id)s AND tenant_id = %(tenant_id)s
RETURNING id;

-- name: end_session
-- Ends an active session (the collector closes its connection; the provider's next
-- connection opens a new session). Ending twice changes nothing.
UPDATE timing_sessions
   SET status = 'completed', ended_at = coalesce(ended_at, now()), updated_at = now()
 WHERE id = %(session_id)s AND tenant_id = %(tenant_id)s AND status IN ('active', 'completed')
RETURNING id;

-- name: archive_session
-- Archived sessions leave the event's list; cleanup_old_sessions deletes them later.
UPDATE timing_sessions
   SET status = 'archived', ended_at = coalesce(ended_at, now()), updated_at = now()
 WHERE id = %(session_id)s AND tenant_id = %(tenant_id)s
RETURNING id;

-- name: assign_unclaimed_session
-- A platform admin gives a session no tenant owns to an event, whichever tenant's it is.
UPDATE timing_sessions ts
   SET tenant_id = e.tenant_id, event_id = e.id, updated_at = now()
  FROM events e
 WHERE ts.id = %(session_id)s AND ts.tenant_id IS NULL
   AND e.id = %(event_id)s AND e.archived_at IS NULL
RETURNING ts.tenant_id, ts.event_id;

-- name: get_live_event_any_tenant
-- Platform admins only: an event by id across tenants, for the assign form's answer.
SELECT e.id, e.name, t.name AS tenant_name
  FROM events e
  JOIN tenants t ON t.id = e.tenant_id
 WHERE e.id = %(event_id)s AND e.archived_at IS NULL;
