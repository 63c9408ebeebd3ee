ALTER TABLE idempotency_keys
    ALTER COLUMN response_status DROP NOT NULL,
    ALTER COLUMN response_headers DROP NOT NULL,
    ALTER COLUMN response_body DROP NOT NULL,
    ADD COLUMN state text NOT NULL DEFAULT 'done' CHECK (state IN ('in_flight', 'done'));
