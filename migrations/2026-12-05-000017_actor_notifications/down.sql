DROP TRIGGER orgs_notify_actors ON orgs;
DROP TRIGGER users_notify_actors ON users;
DROP FUNCTION notify_actors();
