-- Team members, invitations and password reset links. Everything a tenant's pages reach is
-- filtered by tenant_id; only a link's token hash (the holder's proof) finds a row without it.

-- name: lock_team
-- Serialises changes to one tenant's team, so two owners demoting each other at once
-- cannot leave it with none.
SELECT id FROM tenants WHERE id = %(tenant_id)s FOR UPDATE;

-- name: list_members
SELECT id, email, display_name, role, created_at
  FROM users
 WHERE tenant_id = %(tenant_id)s
 ORDER BY CASE role WHEN 'owner' THEN 0 WHEN 'admin' THEN 1 ELSE 2 END, lower(email);

-- name: get_member
SELECT id, email, display_name, role, created_at
  FROM users
 WHERE id = %(user_id)s AND tenant_id = %(tenant_id)s;

-- name: get_member_by_email
SELECT id, email, display_name, role, created_at
  FROM users
 WHERE lower(email) = lower(%(email)s) AND tenant_id = %(tenant_id)s;

-- name: count_owners
SELECT count(*) FROM users WHERE tenant_id = %(tenant_id)s AND role = 'owner';

-- name: set_member_role
UPDATE users SET role = %(role)s
 WHERE id = %(user_id)s AND tenant_id = %(tenant_id)s
RETURNING id, email, display_name, role, created_at;

-- name: delete_member
DELETE FROM users
 WHERE id = %(user_id)s AND tenant_id = %(tenant_id)s
RETURNING id, email, display_name, role, created_at;

-- name: set_member_password
-- tenant_id is NULL for a platform admin, hence IS NOT DISTINCT FROM.
UPDATE users SET password_hash = %(password_hash)s
 WHERE id = %(user_id)s AND tenant_id IS NOT DISTINCT FROM %(tenant_id)s
RETURNING id;

-- name: revoke_pending_invitations_for_email
-- A new invitation replaces the earlier ones for the same address: one live link per person.
UPDATE invitations SET revoked_at = now()
 WHERE tenant_id = %(tenant_id)s AND lower(email) = lower(%(email)s)
   AND accepted_at IS NULL AND revoked_at IS NULL;

-- name: create_invitation
INSERT INTO invitations (tenant_id, email, role, token_hash, created_by, expires_at)
VALUES (%(tenant_id)s, %(email)s, %(role)s, %(token_hash)s, %(created_by)s,
        now() + make_interval(secs => %(ttl_s)s))
RETURNING id, tenant_id, email, role, created_at, expires_at, accepted_at, revoked_at;

-- name: list_pending_invitations
SELECT id, tenant_id, email, role, created_at, expires_at, accepted_at, revoked_at
  FROM invitations
 WHERE tenant_id = %(tenant_id)s AND accepted_at IS NULL AND revoked_at IS NULL
   AND expires_at > now()
 ORDER BY created_at DESC, id DESC;

-- name: get_invitation
SELECT id, tenant_id, email, role, created_at, expires_at, accepted_at, revoked_at
  FROM invitations
 WHERE id = %(invitation_id)s AND tenant_id = %(tenant_id)s;

-- name: revoke_invitation
UPDATE invitations SET revoked_at = now()
 WHERE id = %(invitation_id)s AND tenant_id = %(tenant_id)s
   AND accepted_at IS NULL AND revoked_at IS NULL
RETURNING id, tenant_id, email, role, created_at, expires_at, accepted_at, revoked_at;

-- name: find_invitation_by_token
-- The token's holder is the one person this row is for; FOR UPDATE makes accepting single-use
-- even when the form is sent twice at once.
SELECT i.id, i.tenant_id, i.email, i.role, i.created_at, i.expires_at, i.accepted_at,
       i.revoked_at, t.name AS tenant_name
  FROM invitations i JOIN tenants t ON t.id = i.tenant_id
 WHERE i.token_hash = %(token_hash)s
   FOR UPDATE OF i;

-- name: mark_invitation_accepted
UPDATE invitations SET accepted_at = now()
 WHERE id = %(invitation_id)s AND tenant_id = %(tenant_id)s;

-- name: expire_password_resets
-- A newer link (or a used one) makes every other open link of the user stop working.
UPDATE password_resets SET expires_at = least(expires_at, now())
 WHERE user_id = %(user_id)s AND used_at IS NULL;

-- name: create_password_reset
-- Inserts nothing unless the user belongs to tenant_id (NULL: a platform admin).
INSERT INTO password_resets (user_id, token_hash, created_by, expires_at)
SELECT u.id, %(token_hash)s, %(created_by)s, now() + make_interval(secs => %(ttl_s)s)
  FROM users u
 WHERE u.id = %(user_id)s AND u.tenant_id IS NOT DISTINCT FROM %(tenant_id)s
RETURNING id;

-- name: find_password_reset_by_token
SELECT r.id, r.user_id, u.tenant_id, u.email, r.created_at, r.expires_at, r.used_at
  FROM password_resets r JOIN users u ON u.id = r.user_id
 WHERE r.token_hash = %(token_hash)s
   FOR UPDATE OF r;

-- name: mark_password_reset_used
UPDATE password_resets SET used_at = now() WHERE id = %(reset_id)s AND user_id = %(user_id)s;

-- name: find_user_by_email
-- For the command line and platform admins only: it crosses tenants.
SELECT id, tenant_id, email, display_name, role FROM users WHERE lower(email) = lower(%(email)s);

-- name: list_tenants
-- For platform admins only: every tenant with its team's size.
SELECT t.id, t.slug, t.name, t.created_at,
       (SELECT count(*) FROM users u WHERE u.tenant_id = t.id) AS members,
       (SELECT count(*) FROM users u WHERE u.tenant_id = t.id AND u.role = 'owner') AS owners,
       (SELECT count(*) FROM invitations i
         WHERE i.tenant_id = t.id AND i.accepted_at IS NULL AND i.revoked_at IS NULL
           AND i.expires_at > now()) AS pending_invitations
  FROM tenants t
 ORDER BY t.name, t.id;
