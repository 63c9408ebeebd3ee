ALTER TABLE opportunity_events DROP COLUMN changes;
DROP TABLE opportunity_changes;
