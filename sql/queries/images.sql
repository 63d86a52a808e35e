-- The tenant image library (sql/migrations/0012_images.sql). Listings never carry the bytes.

-- name: lock_image_library
-- One upload at a time per tenant, so two at once cannot both squeeze under the quota.
-- (The two-key form: its key space is apart from the migrations' single-key lock.)
SELECT pg_advisory_xact_lock(1229801287, (%(tenant_id)s::bigint %% 2147483647)::int);

-- name: image_library_bytes
SELECT coalesce(sum(byte_size), 0)::bigint AS used
  FROM images
 WHERE tenant_id = %(tenant_id)s;

-- name: insert_image
INSERT INTO images (tenant_id, public_key, filename, content_type, width, height, content,
                    byte_size, sha256, uploaded_by)
VALUES (%(tenant_id)s, %(public_key)s, %(filename)s, %(content_type)s, %(width)s, %(height)s,
        %(content)s, %(byte_size)s, %(sha256)s, %(uploaded_by)s)
RETURNING id;

-- name: list_images
SELECT i.id, i.public_key, i.filename, i.content_type, i.width, i.height, i.byte_size, i.sha256,
       i.uploaded_by, coalesce(nullif(u.display_name, ''), u.email, '') AS uploader, i.created_at
  FROM images i
  LEFT JOIN users u ON u.id = i.uploaded_by
 WHERE i.tenant_id = %(tenant_id)s
 ORDER BY i.created_at DESC, i.id DESC;

-- name: get_image
SELECT i.id, i.public_key, i.filename, i.content_type, i.width, i.height, i.byte_size, i.sha256,
       i.uploaded_by, coalesce(nullif(u.display_name, ''), u.email, '') AS uploader, i.created_at
  FROM images i
  LEFT JOIN users u ON u.id = i.uploaded_by
 WHERE i.tenant_id = %(tenant_id)s AND i.id = %(image_id)s;

-- name: find_image_by_sha256
SELECT i.id, i.public_key, i.filename, i.content_type, i.width, i.height, i.byte_size, i.sha256,
       i.uploaded_by, coalesce(nullif(u.display_name, ''), u.email, '') AS uploader, i.created_at
  FROM images i
  LEFT JOIN users u ON u.id = i.uploaded_by
 WHERE i.tenant_id = %(tenant_id)s AND i.sha256 = %(sha256)s;

-- name: delete_image
DELETE FROM images
 WHERE tenant_id = %(tenant_id)s AND id = %(image_id)s
RETURNING id, public_key, filename, content_type, width, height, byte_size, sha256, uploaded_by,
          '' AS uploader, created_at;

-- name: get_image_content_by_key
-- Public: /media/<key> is served without a login, so this runs without a tenant.
SELECT content_type, content AS data, sha256
  FROM images
 WHERE public_key = %(public_key)s;
