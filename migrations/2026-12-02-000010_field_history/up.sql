-- Field history (DOMAIN.md): each change to an opportunity's description,
-- field by field with old and new values ([{field, old, new}]), who made it
-- and when, written in the same transaction as the change; append-only.
-- `status` is the opportunity's status at the time: partners do not see the
-- edits of a draft, which are the vendor's own preparation.
CREATE TABLE opportunity_changes (
    id             uuid PRIMARY KEY,
    opportunity_id uuid NOT NULL REFERENCES opportunities (id),
    actor_user_id  uuid REFERENCES users (id),
    actor_org_id   uuid REFERENCES orgs (id),
    status         text NOT NULL,
    changes        jsonb NOT NULL
        CHECK (jsonb_typeof(changes) = 'array' AND jsonb_array_length(changes) > 0),
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX opportunity_changes_timeline
    ON opportunity_changes (opportunity_id, created_at DESC, id);
CREATE TRIGGER opportunity_changes_append_only
    BEFORE UPDATE OR DELETE ON opportunity_changes
    FOR EACH ROW EXECUTE FUNCTION refuse_change();

-- What an action changed beside the status (deadlines, extensions, close
-- fields), shown with the status change it belongs to and visible as that
-- is: the same [{field, old, new}].
ALTER TABLE opportunity_events
    ADD COLUMN changes jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(changes) = 'array');
