-- The builder edits a draft; "Save" turns it into the next version, which open screens show.
-- Dragging an element must not make a version per pixel.
ALTER TABLE display_templates
    ADD COLUMN draft            jsonb NOT NULL DEFAULT '{}',
    ADD COLUMN draft_updated_at timestamptz NOT NULL DEFAULT now();
