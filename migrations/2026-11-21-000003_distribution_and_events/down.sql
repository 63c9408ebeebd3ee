DROP TABLE webhook_deliveries;
DROP TABLE webhooks;
DROP TABLE events;
DROP INDEX deal_registrations_exclusivity_end;
ALTER TABLE orgs DROP COLUMN last_assigned_at;
DROP INDEX opportunities_reassign;
DROP INDEX opportunities_offer_deadline;
ALTER TABLE opportunities DROP COLUMN reassign_pending;
ALTER TABLE opportunities DROP COLUMN auto_assignments;
