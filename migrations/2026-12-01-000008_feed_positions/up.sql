-- The feed's positions, assigned in commit order. `seq` is taken at insert,
-- so a transaction that inserted earlier can commit later, behind a position
-- a reader has already passed. An event gets its `feed_position` only once
-- it is committed, from one sequencer at a time (outbox::sequence), so no
-- event can later appear behind one a reader has seen.
CREATE SEQUENCE events_feed_position_seq;
ALTER TABLE events ADD COLUMN feed_position bigint;
-- Events written before: their order stands, and cursors given out (which
-- named a `seq`) keep their meaning.
UPDATE events SET feed_position = seq;
SELECT setval('events_feed_position_seq', greatest((SELECT max(seq) FROM events), 1));
CREATE UNIQUE INDEX events_feed_position ON events (feed_position);
CREATE INDEX events_unsequenced ON events (seq) WHERE feed_position IS NULL;
