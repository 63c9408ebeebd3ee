-- The lifecycle: who created an opportunity, which partner each event
-- concerns, progress entries, notes, marketing tasks, the vendor's policy,
-- deal registrations and customer-name reveals.

ALTER TABLE opportunities ADD COLUMN created_by_user_id uuid REFERENCES users (id);
UPDATE opportunities SET created_by_user_id = owner_user_id;
ALTER TABLE opportunities ALTER COLUMN created_by_user_id SET NOT NULL;
CREATE INDEX opportunities_updated ON opportunities (updated_at, id);
CREATE INDEX opportunities_close_date ON opportunities (expected_close_date, id);

-- The org that acted, and the partner org an event concerns (its timeline).
ALTER TABLE opportunity_events ADD COLUMN actor_org_id uuid REFERENCES orgs (id);
ALTER TABLE opportunity_events ADD COLUMN partner_org_id uuid REFERENCES orgs (id);

CREATE TABLE marketing_tasks (
    id                 uuid PRIMARY KEY,
    name               text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
    description        text,
    product_lines      text[] NOT NULL DEFAULT '{}' CHECK (array_position(product_lines, NULL) IS NULL),
    starts_on          date,
    ends_on            date,
    created_by_user_id uuid NOT NULL REFERENCES users (id),
    version            integer NOT NULL DEFAULT 1,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    CHECK (ends_on IS NULL OR starts_on IS NULL OR ends_on >= starts_on)
);
ALTER TABLE opportunities
    ADD CONSTRAINT opportunities_marketing_task_fk
    FOREIGN KEY (marketing_task_id) REFERENCES marketing_tasks (id);
CREATE INDEX opportunities_marketing_task ON opportunities (marketing_task_id)
    WHERE marketing_task_id IS NOT NULL;

-- Append-only: no endpoint changes or deletes an entry, and neither can SQL.
CREATE TABLE progress_entries (
    id                 uuid PRIMARY KEY,
    opportunity_id     uuid NOT NULL REFERENCES opportunities (id),
    author_user_id     uuid NOT NULL REFERENCES users (id),
    author_org_id      uuid NOT NULL REFERENCES orgs (id),
    development_phase  text NOT NULL CHECK (development_phase IN ('qualify', 'develop', 'propose', 'negotiate', 'commit')),
    win_probability    smallint NOT NULL CHECK (win_probability BETWEEN 0 AND 100),
    technical_exchange text,
    test_details       text,
    progress_details   text,
    created_at         timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX progress_entries_timeline ON progress_entries (opportunity_id, created_at DESC, id);
CREATE TRIGGER progress_entries_append_only
    BEFORE UPDATE OR DELETE ON progress_entries
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER progress_entries_no_truncate
    BEFORE TRUNCATE ON progress_entries
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();

CREATE TABLE notes (
    id             uuid PRIMARY KEY,
    opportunity_id uuid NOT NULL REFERENCES opportunities (id),
    author_user_id uuid NOT NULL REFERENCES users (id),
    author_org_id  uuid NOT NULL REFERENCES orgs (id),
    body           text NOT NULL CHECK (char_length(body) BETWEEN 1 AND 10000),
    internal       boolean NOT NULL DEFAULT false,
    created_at     timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX notes_timeline ON notes (opportunity_id, created_at DESC, id);

-- The vendor's policy: exactly one row.
CREATE TABLE policies (
    id                            smallint PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    acceptance_window_hours       integer NOT NULL,
    auto_reassign                 boolean NOT NULL,
    max_auto_reassignments        integer NOT NULL,
    max_extensions                integer NOT NULL,
    max_extension_days            integer NOT NULL,
    registration_exclusivity_days integer NOT NULL,
    opportunity_validity_days     integer NOT NULL,
    weight_country                integer NOT NULL,
    weight_industry               integer NOT NULL,
    weight_product_lines          integer NOT NULL,
    weight_tier                   integer NOT NULL,
    weight_capacity               integer NOT NULL,
    weight_history                integer NOT NULL,
    version                       integer NOT NULL DEFAULT 1,
    updated_at                    timestamptz NOT NULL DEFAULT now()
);
INSERT INTO policies (acceptance_window_hours, auto_reassign, max_auto_reassignments,
                      max_extensions, max_extension_days, registration_exclusivity_days,
                      opportunity_validity_days, weight_country, weight_industry,
                      weight_product_lines, weight_tier, weight_capacity, weight_history)
VALUES (72, true, 3, 2, 90, 90, 90, 30, 20, 25, 10, 10, 5);

CREATE TABLE deal_registrations (
    id                   uuid PRIMARY KEY,
    opportunity_id       uuid NOT NULL REFERENCES opportunities (id),
    org_id               uuid NOT NULL REFERENCES orgs (id),
    customer_id          uuid NOT NULL REFERENCES customers (id),
    product_lines        text[] NOT NULL CHECK (cardinality(product_lines) > 0
                                                AND array_position(product_lines, NULL) IS NULL),
    justification        text,
    status               text NOT NULL CHECK (status IN ('submitted', 'approved', 'rejected',
                                                         'withdrawn', 'expired', 'closed')),
    exclusive_until      date,
    decision_reason      text,
    conflict_ids         uuid[] NOT NULL DEFAULT '{}' CHECK (array_position(conflict_ids, NULL) IS NULL),
    submitted_by_user_id uuid NOT NULL REFERENCES users (id),
    decided_by_user_id   uuid REFERENCES users (id),
    decided_at           timestamptz,
    version              integer NOT NULL DEFAULT 1,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    CHECK (status <> 'approved' OR exclusive_until IS NOT NULL)
);
-- One live claim per opportunity.
CREATE UNIQUE INDEX deal_registrations_one_active ON deal_registrations (opportunity_id)
    WHERE status IN ('submitted', 'approved');
CREATE INDEX deal_registrations_org ON deal_registrations (org_id, id);
CREATE INDEX deal_registrations_status ON deal_registrations (status, id);

-- Who revealed which masked customer name, and when.
CREATE TABLE customer_reveals (
    id          uuid PRIMARY KEY,
    user_id     uuid NOT NULL REFERENCES users (id),
    customer_id uuid NOT NULL REFERENCES customers (id),
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX customer_reveals_customer ON customer_reveals (customer_id, created_at);
