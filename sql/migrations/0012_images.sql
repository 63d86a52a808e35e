-- A tenant's image library: logos and backgrounds for display templates. Only the re-encoded
-- image is kept (app.domain.images), never the uploaded bytes or their metadata.
CREATE TABLE images (
    id            bigserial PRIMARY KEY,
    tenant_id     bigint NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    -- The random name in /media/<public_key>: whoever has it can fetch the image, no one
    -- can guess it. Served without a login, so it is unique across tenants.
    public_key    text NOT NULL UNIQUE CHECK (public_key ~ '^[A-Za-z0-9_-]{22}$'),
    filename      text NOT NULL CHECK (length(filename) BETWEEN 1 AND 200),
    content_type  text NOT NULL CHECK (content_type IN ('image/png', 'image/jpeg', 'image/webp')),
    width         integer NOT NULL CHECK (width > 0),
    height        integer NOT NULL CHECK (height > 0),
    content       bytea NOT NULL,
    byte_size     integer NOT NULL CHECK (byte_size = octet_length(content)),
    sha256        text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    uploaded_by   bigint REFERENCES users (id) ON DELETE SET NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    -- The same picture uploaded again is the image already stored (and counts once).
    UNIQUE (tenant_id, sha256)
);
-- Images are compressed already: stored out of line without another compression attempt.
ALTER TABLE images ALTER COLUMN content SET STORAGE EXTERNAL;

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['images']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format(
            'CREATE POLICY tenant_rows ON %I TO racedisplay_app'
            ' USING (tenant_id = current_tenant_id()) WITH CHECK (tenant_id = current_tenant_id())',
            t);
    END LOOP;
END
$$;
