-- Provider accounts (encrypted credentials) and event syncs (race, sub-event map, schedule).

-- name: insert_provider_account
INSERT INTO provider_accounts (tenant_id, provider, label, secret, created_by)
VALUES (%(tenant_id)s, %(provider)s, %(label)s, %(secret)s, %(created_by)s)
RETURNING id, tenant_id, provider, label, created_at;

-- name: list_provider_accounts
-- Never selects `secret`: pages get accounts from here.
SELECT id, tenant_id, provider, label, created_at
  FROM provider_accounts
 WHERE tenant_id = %(tenant_id)s
 ORDER BY provider, label, id;

-- name: get_provider_account
SELECT id, tenant_id, provider, label, created_at
  FROM provider_accounts
 WHERE tenant_id = %(tenant_id)s AND id = %(account_id)s;

-- name: get_provider_account_secret
SELECT secret FROM provider_accounts WHERE tenant_id = %(tenant_id)s AND id = %(account_id)s;

-- name: delete_provider_account
-- Its event syncs go with it (ON DELETE CASCADE).
DELETE FROM provider_accounts WHERE tenant_id = %(tenant_id)s AND id = %(account_id)s
RETURNING id;

-- name: upsert_event_sync
-- A changed sub-event map starts the change cursor over: the next run is a full one.
INSERT INTO event_syncs (tenant_id, event_id, account_id, race_id, race_name, sub_events,
                         until_at)
VALUES (%(tenant_id)s, %(event_id)s, %(account_id)s, %(race_id)s, %(race_name)s,
        %(sub_events)s, %(until_at)s)
ON CONFLICT (event_id, account_id, race_id) DO UPDATE
   SET race_name = EXCLUDED.race_name,
       sub_events = EXCLUDED.sub_events,
       until_at = COALESCE(event_syncs.until_at, EXCLUDED.until_at),
       cursor_at = CASE WHEN event_syncs.sub_events = EXCLUDED.sub_events
                        THEN event_syncs.cursor_at END
RETURNING id;

-- name: list_event_syncs
SELECT s.id, s.tenant_id, s.event_id, s.account_id, a.provider, a.label AS account_label,
       s.race_id, s.race_name, s.sub_events, s.every_minutes, s.until_at, s.next_run_at,
       s.cursor_at, s.state, s.progress, s.counts, s.message, s.last_run_at
  FROM event_syncs s
  JOIN provider_accounts a ON a.tenant_id = s.tenant_id AND a.id = s.account_id
 WHERE s.tenant_id = %(tenant_id)s AND s.event_id = %(event_id)s
 ORDER BY s.id;

-- name: get_event_sync
SELECT s.id, s.tenant_id, s.event_id, s.account_id, a.provider, a.label AS account_label,
       s.race_id, s.race_name, s.sub_events, s.every_minutes, s.until_at, s.next_run_at,
       s.cursor_at, s.state, s.progress, s.counts, s.message, s.last_run_at
  FROM event_syncs s
  JOIN provider_accounts a ON a.tenant_id = s.tenant_id AND a.id = s.account_id
 WHERE s.tenant_id = %(tenant_id)s AND s.id = %(sync_id)s
   AND (%(event_id)s::bigint IS NULL OR s.event_id = %(event_id)s);

-- name: find_event_sync
SELECT id FROM event_syncs
 WHERE tenant_id = %(tenant_id)s AND event_id = %(event_id)s AND account_id = %(account_id)s
   AND race_id = %(race_id)s;

-- name: set_event_sync_schedule
UPDATE event_syncs
   SET every_minutes = %(every_minutes)s,
       until_at = %(until_at)s,
       next_run_at = %(next_run_at)s
 WHERE tenant_id = %(tenant_id)s AND event_id = %(event_id)s AND id = %(sync_id)s
RETURNING id;

-- name: delete_event_sync
DELETE FROM event_syncs
 WHERE tenant_id = %(tenant_id)s AND event_id = %(event_id)s AND id = %(sync_id)s
   AND state <> 'running'
RETURNING id;

-- name: claim_event_sync
-- One run at a time per sync: a row already running is not claimed again, unless its run
-- started so long ago that its worker must have died (a live run writes progress meanwhile,
-- but a stale mark must not block the sync for ever).
UPDATE event_syncs
   SET state = 'running', progress = 0, message = '', last_run_at = now()
 WHERE tenant_id = %(tenant_id)s AND id = %(sync_id)s
   AND (state <> 'running' OR last_run_at < now() - make_interval(secs => %(stale_s)s))
RETURNING id;

-- name: claim_due_syncs
-- Across tenants (owner connection). SKIP LOCKED lets several workers claim at once without
-- waiting on each other, and each due row goes to exactly one of them; the next run time is
-- set here, so a run that dies is not retried in a tight loop.
WITH due AS (
    SELECT id
      FROM event_syncs
     WHERE next_run_at <= now()
       AND (state <> 'running' OR last_run_at < now() - make_interval(secs => %(stale_s)s))
     ORDER BY next_run_at
     LIMIT %(limit)s
       FOR UPDATE SKIP LOCKED
)
UPDATE event_syncs s
   SET state = 'running', progress = 0, message = '', last_run_at = now(),
       -- Every N minutes while before until_at; the last run falls on until_at itself.
       next_run_at = CASE
           WHEN s.every_minutes IS NULL THEN NULL
           WHEN s.until_at IS NULL THEN now() + make_interval(mins => s.every_minutes)
           WHEN now() < s.until_at
           THEN LEAST(now() + make_interval(mins => s.every_minutes), s.until_at)
       END
  FROM due
 WHERE s.id = due.id
RETURNING s.id, s.tenant_id;

-- name: set_sync_progress
UPDATE event_syncs SET progress = %(progress)s
 WHERE tenant_id = %(tenant_id)s AND id = %(sync_id)s AND state = 'running';

-- name: finish_sync_done
UPDATE event_syncs
   SET state = 'done', progress = %(progress)s, counts = %(counts)s, message = %(message)s,
       cursor_at = %(cursor_at)s
 WHERE tenant_id = %(tenant_id)s AND id = %(sync_id)s;

-- name: finish_sync_failed
-- The cursor stays where the last complete run left it.
UPDATE event_syncs
   SET state = 'failed', progress = %(progress)s, message = %(message)s
 WHERE tenant_id = %(tenant_id)s AND id = %(sync_id)s;
