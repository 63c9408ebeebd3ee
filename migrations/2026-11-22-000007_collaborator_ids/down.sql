DROP TRIGGER collaborators_updated_new ON opportunity_collaborators;
DROP TRIGGER collaborators_updated_old ON opportunity_collaborators;
DROP TRIGGER collaborators_deleted ON opportunity_collaborators;
DROP TRIGGER collaborators_inserted ON opportunity_collaborators;
DROP FUNCTION refresh_collaborator_ids();
ALTER TABLE opportunities DROP COLUMN collaborator_ids;
