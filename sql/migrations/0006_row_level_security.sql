-- Row-level security as defence in depth: tenant work runs as racedisplay_app (SET LOCAL ROLE
-- in app.db.pool.tenant_connection) with racedisplay.tenant_id set for the transaction, and
-- these policies show that role only the tenant's rows, whatever a query forgets.
-- The collector and pre-login lookups run as the connecting role, which owns the tables and is
-- not subject to the policies.

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'racedisplay_app') THEN
        CREATE ROLE racedisplay_app NOLOGIN NOBYPASSRLS;
    END IF;
END
$$;
-- The connecting role must be able to SET ROLE to it.
GRANT racedisplay_app TO CURRENT_USER;

GRANT USAGE ON SCHEMA public TO racedisplay_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO racedisplay_app;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO racedisplay_app;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO racedisplay_app;
-- Tables of later migrations too.
ALTER DEFAULT PRIVILEGES IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO racedisplay_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO racedisplay_app;

-- The tenant of the current transaction; NULL (no rows at all) when none was set.
CREATE FUNCTION current_tenant_id() RETURNS bigint
LANGUAGE sql STABLE AS $$
    SELECT nullif(current_setting('racedisplay.tenant_id', true), '')::bigint
$$;

-- Tables that carry their tenant.
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['tenants', 'users', 'events', 'event_locations', 'participants',
                             'participant_chips', 'displays', 'timing_sessions', 'audit_log',
                             'invitations']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format(
            'CREATE POLICY tenant_rows ON %I TO racedisplay_app USING (%s = current_tenant_id())'
            ' WITH CHECK (%s = current_tenant_id())',
            t,
            CASE WHEN t = 'tenants' THEN 'id' ELSE 'tenant_id' END,
            CASE WHEN t = 'tenants' THEN 'id' ELSE 'tenant_id' END);
    END LOOP;
END
$$;

-- Tables reached through their timing session: a row is the tenant's when its session is
-- (the session policy applies inside the subquery too).
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['timing_locations', 'timing_reads', 'timing_gun_starts',
                             'timing_rejects']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format(
            'CREATE POLICY tenant_rows ON %I TO racedisplay_app USING (EXISTS ('
            'SELECT 1 FROM timing_sessions s WHERE s.id = %I.session_id))',
            t, t);
    END LOOP;
END
$$;

-- Reached through the user: a reset is the tenant's when its user is.
ALTER TABLE password_resets ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_rows ON password_resets TO racedisplay_app
    USING (EXISTS (SELECT 1 FROM users u WHERE u.id = password_resets.user_id));

-- Not tenant data, and only ever read before a tenant is known: not for the app role at all.
REVOKE ALL ON web_sessions, login_failures FROM racedisplay_app;

-- A view runs as its owner unless told otherwise, which would skip the policies above.
ALTER VIEW timing_session_stats SET (security_invoker = true);
