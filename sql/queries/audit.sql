-- The audit log: who did what, for which tenant, from where.

-- name: record_audit
INSERT INTO audit_log (tenant_id, user_id, action, detail, ip)
VALUES (%(tenant_id)s, %(user_id)s, %(action)s, %(detail)s, %(ip)s);

-- name: list_audit_for_tenant
SELECT a.id, a.at, a.action, a.detail, a.ip, a.user_id, coalesce(u.email, '') AS user_email
  FROM audit_log a
  LEFT JOIN users u ON u.id = a.user_id
 WHERE a.tenant_id = %(tenant_id)s
 ORDER BY a.at DESC, a.id DESC
 LIMIT %(limit)s;
