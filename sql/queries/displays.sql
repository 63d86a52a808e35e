-- A display's settings page: its settings, its screen PIN, its code, its revocation.
-- Every tenant query names the tenant, the event and the display; revoked displays are gone.

-- name: get_event_display
-- The display with when its current code was issued (a rotation, or else its creation).
SELECT id, tenant_id, event_id, code, name, locations, display_duration, duplicate_window,
       show_unknown, reorder_window, max_per_second, group_runners, vips_first, show_repeats,
       template_id, template_version, transition, pin_hash IS NOT NULL AS has_pin,
       coalesce(code_changed_at, created_at) AS code_issued_at
  FROM displays
 WHERE id = %(display_id)s AND event_id = %(event_id)s AND tenant_id = %(tenant_id)s
   AND revoked_at IS NULL;

-- name: lock_event_display
-- The same row locked for a change, so two saves at once cannot interleave.
SELECT id, tenant_id, event_id, code, name, locations, display_duration, duplicate_window,
       show_unknown, reorder_window, max_per_second, group_runners, vips_first, show_repeats,
       template_id, template_version, transition, pin_hash IS NOT NULL AS has_pin
  FROM displays
 WHERE id = %(display_id)s AND event_id = %(event_id)s AND tenant_id = %(tenant_id)s
   AND revoked_at IS NULL
   FOR UPDATE;

-- name: update_display_settings
UPDATE displays
   SET name = %(name)s, locations = %(locations)s, display_duration = %(display_duration)s,
       transition = %(transition)s, duplicate_window = %(duplicate_window)s,
       reorder_window = %(reorder_window)s, max_per_second = %(max_per_second)s,
       group_runners = %(group_runners)s, vips_first = %(vips_first)s,
       show_repeats = %(show_repeats)s, show_unknown = %(show_unknown)s
 WHERE id = %(display_id)s AND event_id = %(event_id)s AND tenant_id = %(tenant_id)s
   AND revoked_at IS NULL
RETURNING id, tenant_id, event_id, code, name, locations, display_duration, duplicate_window,
          show_unknown, reorder_window, max_per_second, group_runners, vips_first,
          show_repeats, template_id, template_version, transition,
          pin_hash IS NOT NULL AS has_pin;

-- name: set_display_pin_hash
-- NULL clears the PIN.
UPDATE displays SET pin_hash = %(pin_hash)s
 WHERE id = %(display_id)s AND event_id = %(event_id)s AND tenant_id = %(tenant_id)s
   AND revoked_at IS NULL
RETURNING id, tenant_id, event_id, code, name, locations, display_duration, duplicate_window,
          show_unknown, reorder_window, max_per_second, group_runners, vips_first,
          show_repeats, template_id, template_version, transition,
          pin_hash IS NOT NULL AS has_pin;

-- name: set_display_code
-- A new public code; the old one matches no display from this commit on.
UPDATE displays SET code = %(code)s, code_changed_at = now()
 WHERE id = %(display_id)s AND event_id = %(event_id)s AND tenant_id = %(tenant_id)s
   AND revoked_at IS NULL
RETURNING id, tenant_id, event_id, code, name, locations, display_duration, duplicate_window,
          show_unknown, reorder_window, max_per_second, group_runners, vips_first,
          show_repeats, template_id, template_version, transition,
          pin_hash IS NOT NULL AS has_pin;

-- name: revoke_display
UPDATE displays SET revoked_at = now()
 WHERE id = %(display_id)s AND event_id = %(event_id)s AND tenant_id = %(tenant_id)s
   AND revoked_at IS NULL
RETURNING id, tenant_id, event_id, code, name, locations, display_duration, duplicate_window,
          show_unknown, reorder_window, max_per_second, group_runners, vips_first,
          show_repeats, template_id, template_version, transition,
          pin_hash IS NOT NULL AS has_pin;

-- name: get_display_pin_hash
-- Public: a screen's PIN check, by the id its code led to; NULL when it has no PIN.
SELECT pin_hash FROM displays WHERE id = %(display_id)s AND revoked_at IS NULL;

-- name: record_display_pin_failure
INSERT INTO display_pin_failures (display_id, ip) VALUES (%(display_id)s, %(ip)s);

-- name: display_pin_throttle_for_ip
-- How many wrong PINs in the window, and when the limit-th newest leaves it (NULL under the limit).
SELECT count(*)::integer AS failures,
       (SELECT at FROM display_pin_failures
         WHERE ip = %(key)s AND at > now() - make_interval(secs => %(window_s)s)
         ORDER BY at DESC OFFSET %(limit)s - 1 LIMIT 1)
         + make_interval(secs => %(window_s)s) - now() AS wait
  FROM display_pin_failures
 WHERE ip = %(key)s AND at > now() - make_interval(secs => %(window_s)s);

-- name: display_pin_throttle_for_display
SELECT count(*)::integer AS failures,
       (SELECT at FROM display_pin_failures
         WHERE display_id = %(key)s AND at > now() - make_interval(secs => %(window_s)s)
         ORDER BY at DESC OFFSET %(limit)s - 1 LIMIT 1)
         + make_interval(secs => %(window_s)s) - now() AS wait
  FROM display_pin_failures
 WHERE display_id = %(key)s AND at > now() - make_interval(secs => %(window_s)s);

-- name: purge_old_display_pin_failures
DELETE FROM display_pin_failures WHERE at <= now() - make_interval(secs => %(window_s)s);
