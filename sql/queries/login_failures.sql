-- Failed sign-ins, counted in a sliding window per account and per address.

-- name: record_login_failure
INSERT INTO login_failures (email, ip) VALUES (%(email)s, %(ip)s);

-- name: login_throttle_for_email
-- How many failures in the window, and when the limit-th newest leaves it (NULL under the limit).
SELECT count(*)::integer AS failures,
       (SELECT at FROM login_failures
         WHERE email = %(key)s AND at > now() - make_interval(secs => %(window_s)s)
         ORDER BY at DESC OFFSET %(limit)s - 1 LIMIT 1)
         + make_interval(secs => %(window_s)s) - now() AS wait
  FROM login_failures
 WHERE email = %(key)s AND at > now() - make_interval(secs => %(window_s)s);

-- name: login_throttle_for_ip
SELECT count(*)::integer AS failures,
       (SELECT at FROM login_failures
         WHERE ip = %(key)s AND at > now() - make_interval(secs => %(window_s)s)
         ORDER BY at DESC OFFSET %(limit)s - 1 LIMIT 1)
         + make_interval(secs => %(window_s)s) - now() AS wait
  FROM login_failures
 WHERE ip = %(key)s AND at > now() - make_interval(secs => %(window_s)s);

-- name: clear_login_failures_for_email
DELETE FROM login_failures WHERE email = %(email)s;

-- name: purge_old_login_failures
DELETE FROM login_failures WHERE at <= now() - make_interval(secs => %(window_s)s);
