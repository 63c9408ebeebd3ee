-- Foundation: orgs, users, customers, opportunities, their collaborators and
-- status events. Enumerations are text with CHECK constraints so that adding a
-- value is a one-line migration and rows read back as plain strings.

CREATE TABLE orgs (
    id            uuid PRIMARY KEY,
    name          text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
    kind          text NOT NULL CHECK (kind IN ('vendor', 'distributor', 'reseller')),
    parent_id     uuid REFERENCES orgs (id),
    active        boolean NOT NULL DEFAULT true,
    countries     text[] NOT NULL DEFAULT '{}',
    industries    text[] NOT NULL DEFAULT '{}',
    product_lines text[] NOT NULL DEFAULT '{}',
    tier          text NOT NULL DEFAULT 'registered'
                  CHECK (tier IN ('registered', 'silver', 'gold', 'platinum')),
    capacity      integer NOT NULL DEFAULT 10 CHECK (capacity >= 0),
    accepting     boolean NOT NULL DEFAULT true,
    version       integer NOT NULL DEFAULT 1,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CHECK (parent_id IS NULL OR kind = 'reseller'),
    CHECK (array_position(countries, NULL) IS NULL
           AND array_position(industries, NULL) IS NULL
           AND array_position(product_lines, NULL) IS NULL)
);
-- Exactly one vendor per deployment.
CREATE UNIQUE INDEX orgs_one_vendor ON orgs ((true)) WHERE kind = 'vendor';
CREATE UNIQUE INDEX orgs_name_key ON orgs (lower(name));
CREATE INDEX orgs_parent ON orgs (parent_id) WHERE parent_id IS NOT NULL;

CREATE TABLE users (
    id         uuid PRIMARY KEY,
    subject    text NOT NULL UNIQUE CHECK (char_length(subject) BETWEEN 1 AND 255),
    org_id     uuid NOT NULL REFERENCES orgs (id),
    role       text NOT NULL CHECK (role IN ('vendor_admin', 'channel_manager', 'vendor_viewer',
                                             'partner_admin', 'account_manager',
                                             'account_manager_director')),
    name       text NOT NULL,
    email      text NOT NULL,
    active     boolean NOT NULL DEFAULT true,
    version    integer NOT NULL DEFAULT 1,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX users_org ON users (org_id, id);

CREATE TABLE customers (
    id           uuid PRIMARY KEY,
    org_id       uuid NOT NULL REFERENCES orgs (id),
    name         text NOT NULL,
    -- Normalized identity (see the domain crate's customer module).
    name_key     text NOT NULL,
    country      text NOT NULL CHECK (char_length(country) = 2),
    industry     text,
    tax_id       text,
    tax_id_key   text,
    web_domain   text,
    domain_key   text,
    registration text NOT NULL CHECK (registration IN ('preregistered', 'associated', 'vendor_owned')),
    version      integer NOT NULL DEFAULT 1,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX customers_org ON customers (org_id, id);
CREATE INDEX customers_name_key ON customers (name_key, country);
CREATE INDEX customers_tax_id_key ON customers (tax_id_key) WHERE tax_id_key IS NOT NULL;
CREATE INDEX customers_domain_key ON customers (domain_key) WHERE domain_key IS NOT NULL;

CREATE SEQUENCE opportunity_reference_seq;

CREATE TABLE opportunities (
    id                  uuid PRIMARY KEY,
    reference_no        bigint NOT NULL UNIQUE DEFAULT nextval('opportunity_reference_seq'),
    topic               text NOT NULL,
    customer_id         uuid NOT NULL REFERENCES customers (id),
    contact_name        text,
    contact_email       text,
    contact_phone       text,
    contact_title       text,
    currency            text CHECK (char_length(currency) = 3),
    estimated_revenue   numeric(19, 4) CHECK (estimated_revenue >= 0),
    expected_close_date date,
    customer_situation  text,
    customer_need       text,
    proposed_solution   text,
    country             text CHECK (char_length(country) = 2),
    industry            text,
    product_lines       text[] NOT NULL DEFAULT '{}',
    marketing_task_id   uuid,
    origin              text NOT NULL CHECK (origin IN ('vendor', 'partner')),
    status              text NOT NULL CHECK (status IN ('draft', 'pending_approval', 'delivered',
                                   'accepted', 'declined', 'returned', 'expired', 'won', 'lost',
                                   'canceled', 'rejected')),
    owner_org_id        uuid NOT NULL REFERENCES orgs (id),
    owner_user_id       uuid NOT NULL REFERENCES users (id),
    primary_partner_id  uuid REFERENCES orgs (id),
    pipeline_phase      text CHECK (pipeline_phase IN ('qualify', 'develop', 'propose', 'negotiate', 'commit')),
    win_probability     smallint CHECK (win_probability BETWEEN 0 AND 100),
    accept_by           timestamptz,
    expires_on          date,
    extension_count     integer NOT NULL DEFAULT 0,
    close_reason        text,
    actual_revenue      numeric(19, 4) CHECK (actual_revenue >= 0),
    closed_at           timestamptz,
    version             integer NOT NULL DEFAULT 1,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    -- An amount means nothing without its currency, and vice versa.
    CONSTRAINT opportunities_money_has_currency
        CHECK ((estimated_revenue IS NULL AND actual_revenue IS NULL) = (currency IS NULL)),
    CHECK (array_position(product_lines, NULL) IS NULL)
);
CREATE INDEX opportunities_owner_org ON opportunities (owner_org_id, id);
CREATE INDEX opportunities_owner_user ON opportunities (owner_user_id, id);
CREATE INDEX opportunities_primary ON opportunities (primary_partner_id, id)
    WHERE primary_partner_id IS NOT NULL;
CREATE INDEX opportunities_customer ON opportunities (customer_id);
CREATE INDEX opportunities_status ON opportunities (status, id);

CREATE TABLE opportunity_collaborators (
    opportunity_id uuid NOT NULL REFERENCES opportunities (id),
    org_id         uuid NOT NULL REFERENCES orgs (id),
    added_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (opportunity_id, org_id)
);
CREATE INDEX opportunity_collaborators_org ON opportunity_collaborators (org_id, opportunity_id);

-- Status events: who moved an opportunity from what to what, and why.
-- Written in the same transaction as the change they record; never changed.
CREATE TABLE opportunity_events (
    id             uuid PRIMARY KEY,
    opportunity_id uuid NOT NULL REFERENCES opportunities (id),
    actor_user_id  uuid REFERENCES users (id),
    action         text NOT NULL,
    from_status    text,
    to_status      text NOT NULL,
    reason         text,
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX opportunity_events_timeline ON opportunity_events (opportunity_id, created_at DESC, id);

CREATE FUNCTION refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% rows are append-only', TG_TABLE_NAME
        USING ERRCODE = 'restrict_violation';
END;
$$;

CREATE TRIGGER opportunity_events_append_only
    BEFORE UPDATE OR DELETE ON opportunity_events
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
