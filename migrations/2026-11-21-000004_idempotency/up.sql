-- Idempotency keys: the first response to a POST, replayed for retries with
-- the same key and body, per caller, for 24 hours.
CREATE TABLE idempotency_keys (
    subject          text NOT NULL,
    key              text NOT NULL CHECK (char_length(key) BETWEEN 1 AND 255),
    request_hash     text NOT NULL,
    state            text NOT NULL DEFAULT 'in_flight' CHECK (state IN ('in_flight', 'done')),
    response_status  integer,
    response_headers jsonb,
    response_body    bytea,
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (subject, key)
);
CREATE INDEX idempotency_keys_age ON idempotency_keys (created_at);
