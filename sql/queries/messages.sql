-- name: list_event_messages
-- Every queue of the event: its own (display_id NULL) and its displays'.
SELECT id, tenant_id, event_id, display_id, body, style, seconds, position, show_from,
       show_until, created_by, created_at, updated_at
  FROM display_messages
 WHERE event_id = %(event_id)s AND tenant_id = %(tenant_id)s
 ORDER BY display_id NULLS FIRST, position, id;

-- name: list_display_messages
-- What one display can show: its event's queue and its own.
SELECT id, tenant_id, event_id, display_id, body, style, seconds, position, show_from,
       show_until, created_by, created_at, updated_at
  FROM display_messages
 WHERE event_id = %(event_id)s AND tenant_id = %(tenant_id)s
   AND (display_id IS NULL OR display_id = %(display_id)s)
 ORDER BY position, display_id NULLS FIRST, id;

-- name: get_message
SELECT id, tenant_id, event_id, display_id, body, style, seconds, position, show_from,
       show_until, created_by, created_at, updated_at
  FROM display_messages
 WHERE id = %(message_id)s AND event_id = %(event_id)s AND tenant_id = %(tenant_id)s;

-- name: lock_message_queue
-- One queue's ids in their order, locked: a reorder or an insert waits for the one before.
SELECT id
  FROM display_messages
 WHERE event_id = %(event_id)s AND tenant_id = %(tenant_id)s
   AND display_id IS NOT DISTINCT FROM %(display_id)s::bigint
 ORDER BY position, id
   FOR UPDATE;

-- name: insert_message
-- At the end of its queue.
INSERT INTO display_messages (tenant_id, event_id, display_id, body, style, seconds, position,
                              show_from, show_until, created_by)
SELECT %(tenant_id)s::bigint, %(event_id)s::bigint, %(display_id)s::bigint, %(body)s::text,
       %(style)s::text, %(seconds)s::integer, coalesce(max(position) + 1, 0),
       %(show_from)s::timestamptz, %(show_until)s::timestamptz, %(created_by)s::bigint
  FROM display_messages
 WHERE event_id = %(event_id)s AND tenant_id = %(tenant_id)s
   AND display_id IS NOT DISTINCT FROM %(display_id)s::bigint
RETURNING id, tenant_id, event_id, display_id, body, style, seconds, position, show_from,
          show_until, created_by, created_at, updated_at;

-- name: update_message_text
UPDATE display_messages
   SET body = %(body)s, style = %(style)s, seconds = %(seconds)s, updated_at = now()
 WHERE id = %(message_id)s AND event_id = %(event_id)s AND tenant_id = %(tenant_id)s
RETURNING id, tenant_id, event_id, display_id, body, style, seconds, position, show_from,
          show_until, created_by, created_at, updated_at;

-- name: update_message_schedule
UPDATE display_messages
   SET show_from = %(show_from)s, show_until = %(show_until)s, updated_at = now()
 WHERE id = %(message_id)s AND event_id = %(event_id)s AND tenant_id = %(tenant_id)s
RETURNING id, tenant_id, event_id, display_id, body, style, seconds, position, show_from,
          show_until, created_by, created_at, updated_at;

-- name: set_message_positions
-- The queue in the order given: positions 0, 1, 2… (the caller locked the queue), so the
-- n-th message of the event's queue and of a display's stand side by side on that display.
UPDATE display_messages m
   SET position = o.ordinality - 1, updated_at = now()
  FROM unnest(%(ids)s::bigint[]) WITH ORDINALITY AS o(id, ordinality)
 WHERE m.id = o.id AND m.event_id = %(event_id)s AND m.tenant_id = %(tenant_id)s
   AND m.display_id IS NOT DISTINCT FROM %(display_id)s::bigint
   AND m.position <> o.ordinality - 1;

-- name: delete_message
DELETE FROM display_messages
 WHERE id = %(message_id)s AND event_id = %(event_id)s AND tenant_id = %(tenant_id)s
RETURNING id;
