-- A key's row is now written in the same transaction as its request's work,
-- with the answer: a row is an answer, never a claim "in flight" (that is a
-- transaction lock now, which a crash cannot leave behind). Claims left by
-- the old scheme are dropped: their requests either never committed or are
-- indistinguishable from that, and their keys had no answer to replay.
DELETE FROM idempotency_keys WHERE state <> 'done' OR response_status IS NULL;
ALTER TABLE idempotency_keys
    DROP COLUMN state,
    ALTER COLUMN response_status SET NOT NULL,
    ALTER COLUMN response_headers SET NOT NULL,
    ALTER COLUMN response_body SET NOT NULL;
