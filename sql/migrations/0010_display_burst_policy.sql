-- How a display orders and paces runners (app.domain.display_pipeline.DisplayRules).
ALTER TABLE displays
    -- Seconds of read time within which a late read still takes its place in the finish list.
    ADD COLUMN reorder_window integer NOT NULL DEFAULT 10 CHECK (reorder_window BETWEEN 0 AND 600),
    -- Runners featured per second of read time; 0 is no limit. The rest go to the
    -- "also finished" strip, never dropped.
    ADD COLUMN max_per_second integer NOT NULL DEFAULT 0 CHECK (max_per_second BETWEEN 0 AND 100),
    -- Featured runners within one second are shown together.
    ADD COLUMN group_runners  boolean NOT NULL DEFAULT false,
    -- A VIP is featured even in a full second.
    ADD COLUMN vips_first     boolean NOT NULL DEFAULT true,
    -- Later finish reads of a runner already placed are shown again (flagged as a repeat).
    ADD COLUMN show_repeats   boolean NOT NULL DEFAULT false;
