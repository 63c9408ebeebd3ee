-- The collaborating orgs of each opportunity, kept on its row as well, so
-- that reading an opportunity (get, every list row, the locked read before
-- each transition) needs no sub-select: for a page of 51 the per-row
-- sub-select was about a quarter of the database's work (pgbench, 100k:
-- 4,840-5,480 transactions/s with it, 6,640-7,750 without).
--
-- opportunity_collaborators stays the source of truth (foreign keys, the
-- "collaborating" view's index); these statement-level triggers rewrite the
-- array for every opportunity a statement touched. Every writer locks the
-- opportunity row before changing its collaborators, so concurrent changes
-- to one opportunity are serialized and each rewrite sees the previous one.
ALTER TABLE opportunities ADD COLUMN collaborator_ids uuid[] NOT NULL DEFAULT '{}'
    CHECK (array_position(collaborator_ids, NULL) IS NULL);

UPDATE opportunities o
   SET collaborator_ids = ARRAY(SELECT oc.org_id FROM opportunity_collaborators oc
                                 WHERE oc.opportunity_id = o.id ORDER BY oc.org_id)
 WHERE EXISTS (SELECT 1 FROM opportunity_collaborators oc WHERE oc.opportunity_id = o.id);

CREATE FUNCTION refresh_collaborator_ids() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE opportunities o
       SET collaborator_ids = ARRAY(SELECT oc.org_id FROM opportunity_collaborators oc
                                     WHERE oc.opportunity_id = o.id ORDER BY oc.org_id)
     WHERE o.id IN (SELECT DISTINCT opportunity_id FROM changed);
    RETURN NULL;
END
$$;

CREATE TRIGGER collaborators_inserted AFTER INSERT ON opportunity_collaborators
    REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION refresh_collaborator_ids();

CREATE TRIGGER collaborators_deleted AFTER DELETE ON opportunity_collaborators
    REFERENCING OLD TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION refresh_collaborator_ids();

-- Rows are never moved between opportunities, but if one were, both sides
-- are refreshed.
CREATE TRIGGER collaborators_updated_old AFTER UPDATE ON opportunity_collaborators
    REFERENCING OLD TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION refresh_collaborator_ids();

CREATE TRIGGER collaborators_updated_new AFTER UPDATE ON opportunity_collaborators
    REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION refresh_collaborator_ids();
