-- name: create_template
INSERT INTO display_templates (tenant_id, name, draft)
VALUES (%(tenant_id)s, %(name)s, %(layout)s)
RETURNING id;

-- name: list_templates
-- A tenant's templates with their latest version and how many live displays show them.
SELECT t.id, t.name, coalesce(v.version, 0) AS latest_version, v.created_at AS saved_at,
       (SELECT count(*) FROM displays d
         WHERE d.template_id = t.id AND d.tenant_id = t.tenant_id AND d.revoked_at IS NULL)
           AS displays
  FROM display_templates t
  LEFT JOIN LATERAL (SELECT version, created_at FROM display_template_versions
                      WHERE template_id = t.id ORDER BY version DESC LIMIT 1) v ON true
 WHERE t.tenant_id = %(tenant_id)s AND t.archived_at IS NULL
 ORDER BY t.name, t.id;

-- name: get_template
SELECT t.id, t.name, t.draft, t.draft_updated_at,
       coalesce((SELECT max(version) FROM display_template_versions
                  WHERE template_id = t.id), 0) AS latest_version
  FROM display_templates t
 WHERE t.id = %(template_id)s AND t.tenant_id = %(tenant_id)s AND t.archived_at IS NULL;

-- name: lock_template
-- Saves of one template are numbered one after the other.
SELECT id FROM display_templates
 WHERE id = %(template_id)s AND tenant_id = %(tenant_id)s AND archived_at IS NULL
   FOR UPDATE;

-- name: set_template_draft
UPDATE display_templates SET draft = %(layout)s, draft_updated_at = now()
 WHERE id = %(template_id)s AND tenant_id = %(tenant_id)s AND archived_at IS NULL
RETURNING id;

-- name: rename_template
UPDATE display_templates SET name = %(name)s
 WHERE id = %(template_id)s AND tenant_id = %(tenant_id)s AND archived_at IS NULL
RETURNING id;

-- name: add_template_version
INSERT INTO display_template_versions (tenant_id, template_id, version, layout, author_id, note)
SELECT %(tenant_id)s, %(template_id)s, coalesce(max(version), 0) + 1, %(layout)s,
       %(author_id)s, %(note)s
  FROM display_template_versions
 WHERE template_id = %(template_id)s
RETURNING version;

-- name: list_template_versions
SELECT v.version, v.created_at, v.note, coalesce(u.display_name, u.email, 'a removed user')
           AS author
  FROM display_template_versions v
  LEFT JOIN users u ON u.id = v.author_id
 WHERE v.template_id = %(template_id)s AND v.tenant_id = %(tenant_id)s
 ORDER BY v.version DESC;

-- name: get_template_version
SELECT layout FROM display_template_versions
 WHERE template_id = %(template_id)s AND tenant_id = %(tenant_id)s AND version = %(version)s;

-- name: display_template_layout
-- What a display shows: its pinned version, else the latest (no row: none saved yet).
SELECT v.version, v.layout
  FROM display_template_versions v
 WHERE v.template_id = %(template_id)s AND v.tenant_id = %(tenant_id)s
   AND (%(version)s::int IS NULL OR v.version = %(version)s::int)
 ORDER BY v.version DESC
 LIMIT 1;

-- name: displays_of_template
SELECT event_id, id FROM displays
 WHERE template_id = %(template_id)s AND tenant_id = %(tenant_id)s AND revoked_at IS NULL;

-- name: set_display_template
UPDATE displays SET template_id = %(template_id)s, template_version = %(version)s
 WHERE id = %(display_id)s AND event_id = %(event_id)s AND tenant_id = %(tenant_id)s
   AND revoked_at IS NULL
RETURNING id;

-- name: delete_template
DELETE FROM display_templates
 WHERE id = %(template_id)s AND tenant_id = %(tenant_id)s
RETURNING name;

-- name: templates_using_image
-- Templates that would show an image: in the draft, the latest version, or a version a live
-- display is pinned to.
WITH shown AS (
    SELECT t.id, t.name, t.draft AS layout
      FROM display_templates t
     WHERE t.tenant_id = %(tenant_id)s AND t.archived_at IS NULL
    UNION ALL
    SELECT t.id, t.name, v.layout
      FROM display_templates t
      JOIN display_template_versions v ON v.template_id = t.id
     WHERE t.tenant_id = %(tenant_id)s AND t.archived_at IS NULL
       AND (v.version = (SELECT max(version) FROM display_template_versions
                          WHERE template_id = t.id)
            OR EXISTS (SELECT 1 FROM displays d
                        WHERE d.template_id = t.id AND d.template_version = v.version
                          AND d.revoked_at IS NULL))
)
SELECT DISTINCT name
  FROM shown
 WHERE layout->>'background_image' = %(key)s
    OR EXISTS (SELECT 1 FROM jsonb_array_elements(coalesce(layout->'elements', '[]'::jsonb)) e
                WHERE e->>'image' = %(key)s)
 ORDER BY name;

-- name: preview_sources
-- The tenant's live displays of events not archived, to preview a template on their race.
SELECT d.code, e.name AS event_name, d.name AS display_name
  FROM displays d
  JOIN events e ON e.id = d.event_id AND e.tenant_id = d.tenant_id
 WHERE d.tenant_id = %(tenant_id)s AND d.revoked_at IS NULL AND e.archived_at IS NULL
 ORDER BY e.event_date DESC NULLS LAST, e.id DESC, d.id;
