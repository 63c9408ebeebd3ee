-- Replicas keep a short-lived cache of who a token's subject is (user,
-- role, org, the org's resellers). A change to any of that, by any replica,
-- seed or hand-run SQL, is announced on the `prm_actors` channel when it
-- commits, so every replica forgets what it cached at once instead of
-- serving it until it expires. Only the columns an actor is made of fire
-- (an org's `last_assigned_at`, written on every offer, does not).
CREATE FUNCTION notify_actors() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('prm_actors', TG_TABLE_NAME);
    RETURN NULL;
END
$$;
CREATE TRIGGER users_notify_actors
    AFTER INSERT OR DELETE OR UPDATE OF subject, org_id, role, active ON users
    FOR EACH STATEMENT EXECUTE FUNCTION notify_actors();
CREATE TRIGGER orgs_notify_actors
    AFTER INSERT OR DELETE OR UPDATE OF kind, parent_id, active ON orgs
    FOR EACH STATEMENT EXECUTE FUNCTION notify_actors();
