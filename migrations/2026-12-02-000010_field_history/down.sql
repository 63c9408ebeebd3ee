DROP TABLE opportunity_changes;
