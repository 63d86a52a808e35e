-- Server-side web sessions; ids are hashes of the cookie value.

-- name: get_web_session
SELECT data FROM web_sessions WHERE id = %(id)s AND expires_at > now();

-- name: renew_web_session
UPDATE web_sessions
   SET expires_at = now() + make_interval(secs => %(expires_in)s)
 WHERE id = %(id)s AND expires_at > now()
RETURNING data;

-- name: set_web_session
INSERT INTO web_sessions (id, data, expires_at)
VALUES (%(id)s, %(data)s, now() + make_interval(secs => %(expires_in)s))
ON CONFLICT (id) DO UPDATE SET data = EXCLUDED.data, expires_at = EXCLUDED.expires_at;

-- name: delete_web_session
DELETE FROM web_sessions WHERE id = %(id)s;

-- name: delete_all_web_sessions
DELETE FROM web_sessions;

-- name: web_session_expires_in
SELECT ceil(extract(epoch FROM expires_at - now()))::integer
  FROM web_sessions WHERE id = %(id)s AND expires_at > now();

-- name: purge_expired_web_sessions
DELETE FROM web_sessions WHERE expires_at <= now();
