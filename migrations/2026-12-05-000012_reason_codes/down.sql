DROP INDEX opportunities_lost;
DROP INDEX opportunity_events_declines;
ALTER TABLE opportunities DROP COLUMN close_reason_code;
ALTER TABLE opportunity_events DROP COLUMN reason_code;
ALTER TABLE policies DROP COLUMN reason_codes;
