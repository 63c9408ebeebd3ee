DROP INDEX events_unsequenced;
DROP INDEX events_feed_position;
ALTER TABLE events DROP COLUMN feed_position;
DROP SEQUENCE events_feed_position_seq;
