-- Participant imports and syncs: incoming rows are COPYed into a temp table, matched with the
-- stored participants by source id, else bib, classified and applied in set-based statements,
-- so a 50,000-row file costs a few statements rather than 50,000 round trips.

-- name: create_import_staging
-- NULL in a field column means the file did not map that field: the stored value stays.
CREATE TEMP TABLE import_staging (
    line        integer NOT NULL,
    bib         text NOT NULL,
    source      text NOT NULL,
    source_id   text,
    first_name  text,
    last_name   text,
    gender      text,
    birth_date  date,
    age         integer,
    city        text,
    state       text,
    country     text,
    team        text,
    sub_event   text,
    status      text,
    vip         boolean,
    custom      jsonb,
    raw         jsonb,
    chips       text[],
    pid         bigint,
    kind        text
) ON COMMIT DROP;
CREATE TEMP TABLE import_kept (key text NOT NULL) ON COMMIT DROP;

-- name: copy_import_staging
COPY import_staging (line, bib, source, source_id, first_name, last_name, gender, birth_date,
                     age, city, state, country, team, sub_event, status, vip, custom, raw,
                     chips)
FROM STDIN;

-- name: copy_import_kept
COPY import_kept (key) FROM STDIN;

-- name: index_import_staging
CREATE INDEX ON import_staging (pid);
CREATE INDEX ON import_kept (key);
ANALYZE import_staging;
ANALYZE import_kept;

-- name: match_import_by_source_id
-- First the same source's id, then any source's (a CSV of a RunSignUp export meets the sync).
UPDATE import_staging s SET pid = p.id
  FROM participants p
 WHERE p.event_id = %(event_id)s AND p.tenant_id = %(tenant_id)s
   AND s.source_id IS NOT NULL AND p.source_id = s.source_id AND p.source = s.source;

-- name: match_import_by_any_source_id
UPDATE import_staging s SET pid = p.id
  FROM participants p
 WHERE p.event_id = %(event_id)s AND p.tenant_id = %(tenant_id)s
   AND s.pid IS NULL AND s.source_id IS NOT NULL AND p.source_id = s.source_id
   AND NOT EXISTS (SELECT 1 FROM import_staging t WHERE t.pid = p.id);

-- name: match_import_by_bib
-- A bib only matches when one side has no source id: two different registrations that
-- claim one bib are a conflict, not an update.
UPDATE import_staging s SET pid = p.id
  FROM participants p
 WHERE p.event_id = %(event_id)s AND p.tenant_id = %(tenant_id)s
   AND s.pid IS NULL AND p.bib = s.bib AND (s.source_id IS NULL OR p.source_id IS NULL)
   AND NOT EXISTS (SELECT 1 FROM import_staging t WHERE t.pid = p.id);

-- name: reject_taken_bibs
-- Rows whose bib stays worn by a stored participant this import does not touch (in delete
-- mode only kept ones stay). Run until it deletes nothing: a rejected row leaves its own
-- participant untouched, which may block another row.
WITH rejected AS (
    DELETE FROM import_staging s
     USING participants q
     WHERE q.event_id = %(event_id)s AND q.tenant_id = %(tenant_id)s
       AND q.bib = s.bib AND q.id IS DISTINCT FROM s.pid
       AND NOT EXISTS (SELECT 1 FROM import_staging t WHERE t.pid = q.id)
       AND (%(removal)s <> 'delete'
            OR EXISTS (SELECT 1 FROM import_kept k
                        WHERE k.key IN ('bib:' || q.bib, 'id:' || q.source_id, 'pid:' || q.id)))
    RETURNING s.line, s.bib, s.pid, s.raw, q.first_name, q.last_name, q.source_id
), kept AS (
    INSERT INTO import_kept (key) SELECT 'pid:' || pid FROM rejected WHERE pid IS NOT NULL
)
SELECT line, bib, raw, first_name, last_name, source_id FROM rejected;

-- name: classify_import
UPDATE import_staging SET kind = 'added' WHERE pid IS NULL;
UPDATE import_staging s
   SET kind = CASE
       WHEN (s.bib, coalesce(s.source_id, p.source_id), coalesce(s.first_name, p.first_name),
             coalesce(s.last_name, p.last_name), coalesce(s.gender, p.gender),
             coalesce(s.birth_date, p.birth_date), coalesce(s.age, p.age),
             coalesce(s.city, p.city), coalesce(s.state, p.state),
             coalesce(s.country, p.country), coalesce(s.team, p.team),
             coalesce(s.sub_event, p.sub_event), coalesce(s.status, p.status),
             coalesce(s.vip, p.vip), coalesce(s.custom, p.custom))
            IS NOT DISTINCT FROM
            (p.bib, p.source_id, p.first_name, p.last_name, p.gender, p.birth_date, p.age,
             p.city, p.state, p.country, p.team, p.sub_event, p.status, p.vip, p.custom)
        AND (s.chips IS NULL OR s.chips = coalesce(
               (SELECT array_agg(c.chip_code ORDER BY c.chip_code)
                  FROM participant_chips c WHERE c.participant_id = p.id), '{}'))
       THEN 'unchanged'
       ELSE 'updated'
   END
  FROM participants p
 WHERE p.id = s.pid;
-- Statistics again now that rows are matched: those taken before saw every pid NULL, and the
-- planner would then scan the stage once per stored participant for the missing ones.
ANALYZE import_staging;

-- name: count_import
SELECT count(*) FILTER (WHERE kind = 'added'),
       count(*) FILTER (WHERE kind = 'updated'),
       count(*) FILTER (WHERE kind = 'unchanged')
  FROM import_staging;

-- name: missing_participants
-- Stored participants (of one source, when given) that the import did not mention; rows the
-- import rejected still name theirs, by bib or source id, so a typo does not remove anyone.
CREATE TEMP TABLE import_missing ON COMMIT DROP AS
SELECT p.id
  FROM participants p
 WHERE p.event_id = %(event_id)s AND p.tenant_id = %(tenant_id)s
   AND (%(source)s::text IS NULL OR p.source = %(source)s)
   AND NOT EXISTS (SELECT 1 FROM import_staging s WHERE s.pid = p.id)
   -- Three anti-joins rather than one IN list: each hashes, an IN list is a loop per row.
   AND NOT EXISTS (SELECT 1 FROM import_kept k WHERE k.key = 'bib:' || p.bib)
   AND NOT EXISTS (SELECT 1 FROM import_kept k WHERE k.key = 'id:' || p.source_id)
   AND NOT EXISTS (SELECT 1 FROM import_kept k WHERE k.key = 'pid:' || p.id);

-- name: delete_missing_participants
DELETE FROM participants
 WHERE tenant_id = %(tenant_id)s AND id IN (SELECT id FROM import_missing);

-- name: cancel_missing_participants
UPDATE participants SET status = 'cancelled', updated_at = now()
 WHERE tenant_id = %(tenant_id)s AND id IN (SELECT id FROM import_missing)
   AND status <> 'cancelled';

-- name: free_changed_bibs
-- Bibs that move between participants (a swap) are parked first: the unique index is checked
-- row by row, so a direct swap would collide halfway.
UPDATE participants p SET bib = '#moving#' || p.id
  FROM import_staging s
 WHERE p.id = s.pid AND s.kind = 'updated' AND p.bib <> s.bib;

-- name: update_imported_participants
UPDATE participants p
   SET bib = s.bib, source_id = coalesce(s.source_id, p.source_id),
       first_name = coalesce(s.first_name, p.first_name),
       last_name = coalesce(s.last_name, p.last_name), gender = coalesce(s.gender, p.gender),
       birth_date = coalesce(s.birth_date, p.birth_date), age = coalesce(s.age, p.age),
       city = coalesce(s.city, p.city), state = coalesce(s.state, p.state),
       country = coalesce(s.country, p.country), team = coalesce(s.team, p.team),
       sub_event = coalesce(s.sub_event, p.sub_event), status = coalesce(s.status, p.status),
       vip = coalesce(s.vip, p.vip), custom = coalesce(s.custom, p.custom),
       raw = coalesce(s.raw, p.raw), updated_at = now()
  FROM import_staging s
 WHERE p.id = s.pid AND s.kind = 'updated';

-- name: insert_imported_participants
INSERT INTO participants (tenant_id, event_id, bib, source, source_id, first_name, last_name,
                          gender, birth_date, age, city, state, country, team, sub_event,
                          status, vip, custom, raw)
SELECT %(tenant_id)s, %(event_id)s, s.bib, s.source, s.source_id, coalesce(s.first_name, ''),
       coalesce(s.last_name, ''), coalesce(s.gender, 'U'), s.birth_date, s.age,
       coalesce(s.city, ''), coalesce(s.state, ''), coalesce(s.country, ''),
       coalesce(s.team, ''), coalesce(s.sub_event, ''), coalesce(s.status, 'registered'),
       coalesce(s.vip, false), coalesce(s.custom, '{}'), s.raw
  FROM import_staging s
 WHERE s.kind = 'added';

-- name: match_inserted_participants
-- Joined through the (event_id, bib) unique index: a join on the INSERT's RETURNING rows is
-- planned as a nested loop over unindexed rows, minutes for 50,000.
UPDATE import_staging s SET pid = p.id
  FROM participants p
 WHERE s.kind = 'added' AND p.event_id = %(event_id)s AND p.tenant_id = %(tenant_id)s
   AND p.bib = s.bib;

-- name: clear_imported_chips
-- The import's chips replace each touched participant's; a chip worn by someone else moves.
DELETE FROM participant_chips c
 USING import_staging s
 WHERE c.participant_id = s.pid AND s.kind IN ('added', 'updated') AND s.chips IS NOT NULL;

-- name: insert_imported_chips
INSERT INTO participant_chips (event_id, chip_code, tenant_id, participant_id)
SELECT %(event_id)s, chip, %(tenant_id)s, s.pid
  FROM import_staging s, unnest(s.chips) AS chip
 WHERE s.kind IN ('added', 'updated') AND s.chips IS NOT NULL
ON CONFLICT (event_id, chip_code) DO UPDATE SET participant_id = EXCLUDED.participant_id;

-- name: set_participant_status
-- A registration the provider withdrew (RunSignUp's removed feed), by its source id.
UPDATE participants SET status = %(status)s, updated_at = now()
 WHERE event_id = %(event_id)s AND tenant_id = %(tenant_id)s AND source = %(source)s
   AND source_id = %(source_id)s AND status <> %(status)s
RETURNING id;

-- name: create_upload
INSERT INTO participant_uploads (tenant_id, event_id, user_id, filename, format, content,
                                 total_lines, mapping)
VALUES (%(tenant_id)s, %(event_id)s, %(user_id)s, %(filename)s, %(format)s, %(content)s,
        %(total_lines)s, %(mapping)s)
RETURNING id;

-- name: get_upload
SELECT id, event_id, filename, format, total_lines, mapping, removal, state, dry_run,
       rows_read, counts, error_count, message, created_at, updated_at
  FROM participant_uploads
 WHERE id = %(upload_id)s AND event_id = %(event_id)s AND tenant_id = %(tenant_id)s;

-- name: get_upload_content
SELECT content FROM participant_uploads
 WHERE id = %(upload_id)s AND event_id = %(event_id)s AND tenant_id = %(tenant_id)s;

-- name: get_upload_errors
SELECT filename, errors_csv FROM participant_uploads
 WHERE id = %(upload_id)s AND event_id = %(event_id)s AND tenant_id = %(tenant_id)s;

-- name: list_uploads
SELECT id, event_id, filename, format, total_lines, mapping, removal, state, dry_run,
       rows_read, counts, error_count, message, created_at, updated_at
  FROM participant_uploads
 WHERE event_id = %(event_id)s AND tenant_id = %(tenant_id)s
 ORDER BY created_at DESC, id DESC
 LIMIT %(limit)s;

-- name: start_upload_run
-- Only one run of a file at a time: a second click while it runs changes nothing.
UPDATE participant_uploads
   SET state = 'running', mapping = %(mapping)s, format = %(format)s, removal = %(removal)s,
       dry_run = %(dry_run)s, rows_read = 0, counts = NULL, error_count = 0,
       errors_csv = NULL, message = '', updated_at = now()
 WHERE id = %(upload_id)s AND event_id = %(event_id)s AND tenant_id = %(tenant_id)s
   AND (state <> 'running' OR updated_at < now() - make_interval(secs => %(stale_s)s))
RETURNING id;

-- name: set_upload_progress
UPDATE participant_uploads SET rows_read = %(rows_read)s, updated_at = now()
 WHERE id = %(upload_id)s AND tenant_id = %(tenant_id)s AND state = 'running';

-- name: finish_upload_run
UPDATE participant_uploads
   SET state = %(state)s, rows_read = %(rows_read)s, counts = %(counts)s,
       error_count = %(error_count)s, errors_csv = %(errors_csv)s, message = %(message)s,
       updated_at = now()
 WHERE id = %(upload_id)s AND tenant_id = %(tenant_id)s
RETURNING id, event_id, filename, format, total_lines, mapping, removal, state, dry_run,
          rows_read, counts, error_count, message, created_at, updated_at;

-- name: get_import_mapping
SELECT mapping FROM import_mappings WHERE tenant_id = %(tenant_id)s AND format = %(format)s;

-- name: save_import_mapping
INSERT INTO import_mappings (tenant_id, format, mapping)
VALUES (%(tenant_id)s, %(format)s, %(mapping)s)
ON CONFLICT (tenant_id, format) DO UPDATE SET mapping = EXCLUDED.mapping, updated_at = now();

-- name: list_participants
-- One page of an event's participants with their chips, optionally filtered by bib or name.
SELECT p.id, p.bib, p.first_name, p.last_name, p.gender, p.age, p.city, p.state, p.country,
       p.team, p.sub_event, p.status, p.vip, p.source,
       coalesce((SELECT array_agg(c.chip_code ORDER BY c.chip_code)
                   FROM participant_chips c WHERE c.participant_id = p.id), '{}') AS chips
  FROM participants p
 WHERE p.event_id = %(event_id)s AND p.tenant_id = %(tenant_id)s
   AND (%(search)s = '' OR p.bib = %(search)s
        OR strpos(lower(p.first_name || ' ' || p.last_name), lower(%(search)s)) > 0)
 ORDER BY length(p.bib), p.bib
 LIMIT %(limit)s;

-- name: participant_summary
SELECT count(*) AS participants,
       count(*) FILTER (WHERE status = 'registered') AS registered,
       count(*) FILTER (WHERE NOT EXISTS (SELECT 1 FROM participant_chips c
                                           WHERE c.participant_id = p.id)) AS without_chip,
       (SELECT count(*) FROM chip_bibs cb
         WHERE cb.event_id = %(event_id)s AND cb.tenant_id = %(tenant_id)s) AS chip_file_chips
  FROM participants p
 WHERE p.event_id = %(event_id)s AND p.tenant_id = %(tenant_id)s;
