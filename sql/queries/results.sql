-- name: results_event_reads
-- Athlete reads at the event's start- and finish-kind locations, from the sessions it claims
-- (set-aside, archived sessions left out); control tags (guntime, newlocation) are not athletes.
SELECT r.session_id, r.location_name, r.tag_code, r.read_at
  FROM timing_sessions s
  JOIN timing_reads r ON r.session_id = s.id
 WHERE s.tenant_id = %(tenant_id)s AND s.event_id = %(event_id)s AND s.status <> 'archived'
   AND r.location_name IN (SELECT l.name FROM event_locations l
                            WHERE l.tenant_id = %(tenant_id)s AND l.event_id = %(event_id)s
                              AND l.kind IN ('start', 'finish'))
   AND lower(r.tag_code) <> ALL(%(control_tags)s::text[])
 ORDER BY r.read_at, r.id;

-- name: results_event_guns
-- Every gun start of the event's sessions, with the location it was fired at.
SELECT g.session_id, tl.location_name, g.gun_at
  FROM timing_sessions s
  JOIN timing_gun_starts g ON g.session_id = s.id
  JOIN timing_locations tl ON tl.id = g.location_id
 WHERE s.tenant_id = %(tenant_id)s AND s.event_id = %(event_id)s AND s.status <> 'archived'
 ORDER BY g.gun_at, g.id;

-- name: results_event_entrants
-- Every participant of the event with their registered chips (stored normalised).
SELECT p.id, p.bib, p.first_name, p.last_name, p.gender, p.age, p.birth_date, p.city, p.state,
       p.country, p.sub_event, p.status, coalesce(p.source_id, '') AS source_id,
       coalesce((SELECT array_agg(c.chip_code ORDER BY c.chip_code)
                   FROM participant_chips c
                  WHERE c.participant_id = p.id AND c.event_id = p.event_id), '{}') AS chips
  FROM participants p
 WHERE p.tenant_id = %(tenant_id)s AND p.event_id = %(event_id)s
 ORDER BY p.id;

-- name: results_event_chip_bibs
-- The chip file's chip -> bib pairs of the event.
SELECT chip_code, bib
  FROM chip_bibs
 WHERE tenant_id = %(tenant_id)s AND event_id = %(event_id)s;
