-- A display's settings page: how runners give way on screen, an optional screen PIN, and the
-- rotation of its public code (app.services.displays).
ALTER TABLE displays
    -- How one runner gives way to the next (app.domain.display_settings.TRANSITIONS).
    ADD COLUMN transition      text NOT NULL DEFAULT 'fade'
                               CHECK (transition IN ('none', 'fade', 'slide')),
    -- An argon2 hash of the screen PIN; NULL: screens need no PIN. Only the PIN check reads it
    -- (the Display row carries pin_hash IS NOT NULL), and screens' access cookies are signed
    -- over it, so a new PIN (even the same digits, under a new salt) locks out every screen.
    ADD COLUMN pin_hash        text CHECK (pin_hash IS NULL OR pin_hash LIKE '$argon2%'),
    -- When the current code was issued by a rotation; NULL: the code is the one it was made with.
    ADD COLUMN code_changed_at timestamptz;

-- Wrong screen PINs, counted in a sliding window per address and per display to slow guessing.
-- Written and read before any tenant is known (a screen has only the display's code), like
-- login_failures: not for the app role.
CREATE TABLE display_pin_failures (
    id         bigserial PRIMARY KEY,
    display_id bigint NOT NULL REFERENCES displays (id) ON DELETE CASCADE,
    ip         text NOT NULL,
    at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX display_pin_failures_ip_idx ON display_pin_failures (ip, at);
CREATE INDEX display_pin_failures_display_idx ON display_pin_failures (display_id, at);
REVOKE ALL ON display_pin_failures FROM racedisplay_app;
