-- name: create_tenant
INSERT INTO tenants (slug, name) VALUES (%(slug)s, %(name)s)
RETURNING id, slug, name;

-- name: get_tenant_by_slug
SELECT id, slug, name FROM tenants WHERE slug = %(slug)s;

-- name: create_user
INSERT INTO users (tenant_id, email, display_name, password_hash, role)
VALUES (%(tenant_id)s, %(email)s, %(display_name)s, %(password_hash)s, %(role)s)
RETURNING id, tenant_id, email, display_name, role;

-- name: get_user_for_login
SELECT id, tenant_id, email, display_name, role, password_hash
  FROM users WHERE lower(email) = lower(%(email)s);

-- name: get_user
SELECT id, tenant_id, email, display_name, role FROM users WHERE id = %(user_id)s;

-- name: get_user_with_hash
SELECT id, tenant_id, email, display_name, role, password_hash FROM users WHERE id = %(user_id)s;

-- name: set_password_hash
UPDATE users SET password_hash = %(password_hash)s WHERE id = %(user_id)s;

-- name: create_event
INSERT INTO events (tenant_id, name, event_date, time_zone, ct_event_id, provider_key,
                    min_finish_s)
VALUES (%(tenant_id)s, %(name)s, %(event_date)s, %(time_zone)s, %(ct_event_id)s,
        %(provider_key)s, %(min_finish_s)s)
RETURNING id, tenant_id, name, event_date, time_zone, ct_event_id, provider_key, archived_at,
          tag_mode, min_finish_s;

-- name: get_event
SELECT id, tenant_id, name, event_date, time_zone, ct_event_id, provider_key, archived_at,
       tag_mode, min_finish_s
  FROM events WHERE id = %(event_id)s AND tenant_id = %(tenant_id)s;

-- name: list_events
-- With include_archived, archived events come too (after the live ones).
SELECT id, tenant_id, name, event_date, time_zone, ct_event_id, provider_key, archived_at,
       tag_mode, min_finish_s
  FROM events
 WHERE tenant_id = %(tenant_id)s AND (archived_at IS NULL OR %(include_archived)s)
 ORDER BY archived_at IS NOT NULL, event_date DESC NULLS LAST, id DESC;

-- name: update_event
-- Archived events are read-only: the update matches nothing.
UPDATE events
   SET name = %(name)s, event_date = %(event_date)s, time_zone = %(time_zone)s,
       ct_event_id = %(ct_event_id)s, min_finish_s = %(min_finish_s)s
 WHERE id = %(event_id)s AND tenant_id = %(tenant_id)s AND archived_at IS NULL
RETURNING id, tenant_id, name, event_date, time_zone, ct_event_id, provider_key, archived_at,
          tag_mode, min_finish_s;

-- name: lock_event
-- The event row locked for a change that depends on what else the event holds (its tag mode).
SELECT id, tenant_id, name, event_date, time_zone, ct_event_id, provider_key, archived_at,
       tag_mode, min_finish_s
  FROM events WHERE id = %(event_id)s AND tenant_id = %(tenant_id)s
   FOR UPDATE;

-- name: lock_event_tag_mode
-- Read by every chip writer in its own transaction: the share lock holds off a tag mode change
-- (lock_event) until the chips written under this mode are committed.
SELECT tag_mode FROM events WHERE id = %(event_id)s AND tenant_id = %(tenant_id)s FOR SHARE;

-- name: count_event_chips
-- Distinct chip codes the event knows, registered or from a chip file.
SELECT count(*) FROM (
    SELECT chip_code FROM participant_chips
     WHERE event_id = %(event_id)s AND tenant_id = %(tenant_id)s
    UNION
    SELECT chip_code FROM chip_bibs
     WHERE event_id = %(event_id)s AND tenant_id = %(tenant_id)s
) AS chips;

-- name: set_event_tag_mode
UPDATE events SET tag_mode = %(tag_mode)s
 WHERE id = %(event_id)s AND tenant_id = %(tenant_id)s AND archived_at IS NULL
RETURNING id, tenant_id, name, event_date, time_zone, ct_event_id, provider_key, archived_at,
          tag_mode, min_finish_s;

-- name: set_event_provider_key
UPDATE events SET provider_key = %(provider_key)s
 WHERE id = %(event_id)s AND tenant_id = %(tenant_id)s AND archived_at IS NULL
RETURNING id;

-- name: set_event_archived
UPDATE events
   SET archived_at = CASE WHEN %(archived)s THEN coalesce(archived_at, now()) END
 WHERE id = %(event_id)s AND tenant_id = %(tenant_id)s
RETURNING id;

-- name: list_event_locations
SELECT name, kind, position
  FROM event_locations
 WHERE event_id = %(event_id)s AND tenant_id = %(tenant_id)s
 ORDER BY position, id;

-- name: delete_event_locations
DELETE FROM event_locations WHERE event_id = %(event_id)s AND tenant_id = %(tenant_id)s;

-- name: insert_event_locations
INSERT INTO event_locations (tenant_id, event_id, name, kind, position)
SELECT %(tenant_id)s, %(event_id)s, l.name, l.kind, l.position
  FROM unnest(%(names)s::text[], %(kinds)s::text[], %(positions)s::int[])
       AS l(name, kind, position);

-- name: create_participant_staging
CREATE TEMP TABLE IF NOT EXISTS participant_staging (
    bib text, chip_code text, first_name text, last_name text, gender text, age integer,
    city text, state text, country text, team text
) ON COMMIT DELETE ROWS;

-- name: copy_participant_staging
COPY participant_staging (bib, chip_code, first_name, last_name, gender, age, city, state,
                          country, team)
FROM STDIN;

-- name: upsert_staged_participants
INSERT INTO participants (tenant_id, event_id, bib, first_name, last_name, gender, age, city,
                          state, country, team)
SELECT %(tenant_id)s, %(event_id)s, bib, first_name, last_name, gender, age, city, state,
       country, team
  FROM participant_staging
ON CONFLICT (event_id, bib) DO UPDATE
   SET first_name = EXCLUDED.first_name, last_name = EXCLUDED.last_name,
       gender = EXCLUDED.gender, age = EXCLUDED.age, city = EXCLUDED.city,
       state = EXCLUDED.state, country = EXCLUDED.country, team = EXCLUDED.team,
       updated_at = now();

-- name: upsert_staged_chips
INSERT INTO participant_chips (event_id, chip_code, tenant_id, participant_id)
SELECT %(event_id)s, s.chip_code, %(tenant_id)s, p.id
  FROM participant_staging s
  JOIN participants p ON p.event_id = %(event_id)s AND p.bib = s.bib
 WHERE s.chip_code <> ''
ON CONFLICT (event_id, chip_code) DO UPDATE SET participant_id = EXCLUDED.participant_id;

-- name: count_participants
SELECT count(*) FROM participants WHERE event_id = %(event_id)s AND tenant_id = %(tenant_id)s;

-- name: participants_by_chip
-- A chip the participant registered with comes first; else the chip file's bib, if a
-- participant wears it. A chip neither knows stays unknown: no name is made up for it.
SELECT c.chip_code, p.id, p.bib, p.first_name, p.last_name, p.gender, p.age, p.city, p.state,
       p.country, p.team
  FROM participant_chips c
  JOIN participants p ON p.id = c.participant_id
 WHERE c.event_id = %(event_id)s AND c.tenant_id = %(tenant_id)s
   AND c.chip_code = ANY(%(chip_codes)s)
UNION ALL
SELECT cb.chip_code, p.id, p.bib, p.first_name, p.last_name, p.gender, p.age, p.city, p.state,
       p.country, p.team
  FROM chip_bibs cb
  JOIN participants p ON p.event_id = cb.event_id AND p.tenant_id = cb.tenant_id AND p.bib = cb.bib
 WHERE cb.event_id = %(event_id)s AND cb.tenant_id = %(tenant_id)s
   AND cb.chip_code = ANY(%(chip_codes)s)
   AND NOT EXISTS (SELECT 1 FROM participant_chips c
                    WHERE c.event_id = cb.event_id AND c.chip_code = cb.chip_code);

-- name: upsert_chip_bib
INSERT INTO chip_bibs (tenant_id, event_id, chip_code, bib)
VALUES (%(tenant_id)s, %(event_id)s, %(chip_code)s, %(bib)s)
ON CONFLICT (event_id, chip_code) DO UPDATE SET bib = EXCLUDED.bib, imported_at = now()
 WHERE chip_bibs.tenant_id = EXCLUDED.tenant_id;

-- name: create_display
INSERT INTO displays (tenant_id, event_id, code, name, locations)
VALUES (%(tenant_id)s, %(event_id)s, %(code)s, %(name)s, %(locations)s)
RETURNING id, tenant_id, event_id, code, name, locations, display_duration, duplicate_window,
          show_unknown, reorder_window, max_per_second, group_runners, vips_first,
          show_repeats, template_id, template_version, transition,
          pin_hash IS NOT NULL AS has_pin;

-- name: get_display_by_code
-- Public: a code is the only credential a screen has; revoked codes answer nothing.
SELECT id, tenant_id, event_id, code, name, locations, display_duration, duplicate_window,
       show_unknown, reorder_window, max_per_second, group_runners, vips_first, show_repeats,
       template_id, template_version, transition, pin_hash IS NOT NULL AS has_pin
  FROM displays
 WHERE code = %(code)s AND revoked_at IS NULL;

-- name: list_displays
SELECT id, tenant_id, event_id, code, name, locations, display_duration, duplicate_window,
       show_unknown, reorder_window, max_per_second, group_runners, vips_first, show_repeats,
       template_id, template_version, transition, pin_hash IS NOT NULL AS has_pin
  FROM displays
 WHERE event_id = %(event_id)s AND tenant_id = %(tenant_id)s AND revoked_at IS NULL
 ORDER BY id;

-- name: set_display_show_unknown
UPDATE displays SET show_unknown = %(show_unknown)s
 WHERE id = %(display_id)s AND event_id = %(event_id)s AND tenant_id = %(tenant_id)s
   AND revoked_at IS NULL
RETURNING id, tenant_id, event_id, code, name, locations, display_duration, duplicate_window,
          show_unknown, reorder_window, max_per_second, group_runners, vips_first,
          show_repeats, template_id, template_version, transition,
          pin_hash IS NOT NULL AS has_pin;

-- name: ping
SELECT 1;


-- name: event_entrants
-- Every chip that names a participant of the event, for the live displays: registered chips,
-- and chip-file chips on a bib somebody wears (a registered chip wins). Stored normalised.
SELECT c.chip_code, p.id, p.bib, p.first_name, p.last_name, p.gender, p.age, p.sub_event,
       p.vip, p.city, p.team, p.custom
  FROM participant_chips c
  JOIN participants p ON p.id = c.participant_id
 WHERE c.event_id = %(event_id)s AND c.tenant_id = %(tenant_id)s
UNION ALL
SELECT cb.chip_code, p.id, p.bib, p.first_name, p.last_name, p.gender, p.age, p.sub_event,
       p.vip, p.city, p.team, p.custom
  FROM chip_bibs cb
  JOIN participants p ON p.event_id = cb.event_id AND p.tenant_id = cb.tenant_id AND p.bib = cb.bib
 WHERE cb.event_id = %(event_id)s AND cb.tenant_id = %(tenant_id)s
   AND NOT EXISTS (SELECT 1 FROM participant_chips c
                    WHERE c.event_id = cb.event_id AND c.chip_code = cb.chip_code);

-- name: event_entrants_version
-- Changes whenever event_entrants would answer differently (an import, a chip file, an edit).
SELECT (SELECT count(*) FROM participants WHERE event_id = %(event_id)s AND tenant_id = %(tenant_id)s),
       (SELECT max(updated_at) FROM participants
         WHERE event_id = %(event_id)s AND tenant_id = %(tenant_id)s),
       (SELECT count(*) FROM participant_chips
         WHERE event_id = %(event_id)s AND tenant_id = %(tenant_id)s),
       (SELECT count(*) FROM chip_bibs WHERE event_id = %(event_id)s AND tenant_id = %(tenant_id)s),
       (SELECT max(imported_at) FROM chip_bibs
         WHERE event_id = %(event_id)s AND tenant_id = %(tenant_id)s);
