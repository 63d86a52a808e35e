-- Courses that start on the finish mats: finish reads this soon after the gun are runners
-- crossing at the start, not finishing. 0 means every finish read after the gun counts.
ALTER TABLE events
    ADD COLUMN min_finish_s integer NOT NULL DEFAULT 0 CHECK (min_finish_s BETWEEN 0 AND 86400);
