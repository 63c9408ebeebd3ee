-- Imports (API.md, "Bulk"): a CSV of customers or opportunities, kept here
-- until its rows have run, so that any replica's worker can run it and a
-- crash resumes it where the last committed batch ended. Each batch of rows
-- and the progress it made commit together: no row runs twice.
CREATE TABLE imports (
    id          uuid PRIMARY KEY,
    org_id      uuid NOT NULL REFERENCES orgs (id),
    user_id     uuid NOT NULL REFERENCES users (id),
    kind        text NOT NULL CHECK (kind IN ('customers', 'opportunities')),
    status      text NOT NULL DEFAULT 'queued'
        CHECK (status IN ('queued', 'running', 'done', 'failed')),
    -- The CSV as posted; dropped once every row has run.
    body        text,
    rows        integer NOT NULL CHECK (rows >= 0),
    -- Data rows run so far (the next to run is this one plus one).
    processed   integer NOT NULL DEFAULT 0 CHECK (processed BETWEEN 0 AND rows),
    created     integer NOT NULL DEFAULT 0 CHECK (created >= 0),
    rejected    integer NOT NULL DEFAULT 0 CHECK (rejected >= 0),
    -- Why the whole import stopped (the importing user deactivated, say).
    failure     text,
    -- A worker holds a running import until then; past it, another resumes it.
    lease_until timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now(),
    started_at  timestamptz,
    finished_at timestamptz,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CHECK (created + rejected = processed)
);
CREATE INDEX imports_pending ON imports (created_at) WHERE status IN ('queued', 'running');

-- What was wrong with a row, as the single create's answer would have said.
CREATE TABLE import_errors (
    import_id   uuid NOT NULL REFERENCES imports (id),
    row         integer NOT NULL CHECK (row >= 1),
    seq         integer NOT NULL,
    field       text,
    code        text NOT NULL,
    message     text NOT NULL,
    existing_id uuid,
    PRIMARY KEY (import_id, row, seq)
);
