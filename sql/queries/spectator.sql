-- name: spectator_search
-- Participants of an event by bib (exact) or name (part of it); cancelled ones left out.
SELECT id, bib, first_name, last_name, city, sub_event
  FROM participants
 WHERE tenant_id = %(tenant_id)s AND event_id = %(event_id)s
   AND status NOT IN ('cancelled', 'transferred', 'deferred')
   AND (upper(bib) = upper(%(q)s)
        OR (first_name || ' ' || last_name) ILIKE %(pattern)s ESCAPE '\'
        OR (last_name || ' ' || first_name) ILIKE %(pattern)s ESCAPE '\')
 ORDER BY upper(bib) = upper(%(q)s) DESC, last_name, first_name, id
 LIMIT %(limit)s;

-- name: spectator_participant
-- One participant with every chip that names them (registered chips and the chip file's).
SELECT p.id, p.bib, p.first_name, p.last_name, p.gender, p.city, p.team, p.sub_event, p.vip,
       p.status,
       array(SELECT c.chip_code FROM participant_chips c
              WHERE c.participant_id = p.id AND c.event_id = p.event_id
             UNION
             SELECT cb.chip_code FROM chip_bibs cb
              WHERE cb.event_id = p.event_id AND cb.tenant_id = p.tenant_id AND cb.bib = p.bib)
           AS chips
  FROM participants p
 WHERE p.id = %(participant_id)s AND p.event_id = %(event_id)s AND p.tenant_id = %(tenant_id)s
   AND p.status NOT IN ('cancelled', 'transferred', 'deferred');

-- name: spectator_reads
-- Every read of the given (normalised) chips in the event's sessions, oldest first. Chips are
-- stored normalised; reads are not, so they go through the same rule (migration 0016).
SELECT r.location_name, r.read_at
  FROM timing_sessions s
  JOIN timing_reads r ON r.session_id = s.id
 WHERE s.tenant_id = %(tenant_id)s AND s.event_id = %(event_id)s AND s.status <> 'archived'
   AND normalize_tag(r.tag_code, %(exact)s) = ANY(%(chips)s::text[])
 ORDER BY r.read_at, r.id;
