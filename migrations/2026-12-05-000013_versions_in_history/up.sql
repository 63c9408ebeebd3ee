-- Which fields each version of an opportunity changed, by the names its API
-- representation gives them: a 412 names the fields changed since the
-- version the client sent. One row per version after the first, written in
-- the transaction that bumped the version, by every change that bumps it
-- (edits, actions, owner assignment, collaborators, progress); append-only.
-- Versions reached before this table existed have no row: what they
-- changed is unknown, and a 412 reaching back to them says so by naming
-- every field that can change.
CREATE TABLE opportunity_versions (
    opportunity_id uuid NOT NULL REFERENCES opportunities (id),
    version        integer NOT NULL CHECK (version > 1),
    fields         text[] NOT NULL CHECK (array_position(fields, NULL) IS NULL),
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (opportunity_id, version)
);
CREATE TRIGGER opportunity_versions_append_only
    BEFORE UPDATE OR DELETE ON opportunity_versions
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
