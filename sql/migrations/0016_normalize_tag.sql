-- One spelling per chip, as app.domain.reads.normalize_tag: case and surrounding spaces never
-- count, and unless the event compares tags exactly, neither do leading zeros ('009573' is
-- '9573'; '000' is '0'). Queries that match raw reads to stored (normalised) chips use it.
CREATE FUNCTION normalize_tag(tag text, exact boolean) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN CASE WHEN exact THEN upper(btrim(tag))
                ELSE coalesce(nullif(ltrim(upper(btrim(tag)), '0'), ''),
                              CASE WHEN btrim(tag) = '' THEN '' ELSE '0' END)
           END;
