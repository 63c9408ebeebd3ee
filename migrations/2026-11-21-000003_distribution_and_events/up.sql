-- Automatic distribution, deadlines, the event outbox and webhooks.

-- How often the system re-assigned an opportunity, and whether a decline or
-- expiry still awaits automatic re-assignment.
ALTER TABLE opportunities ADD COLUMN auto_assignments integer NOT NULL DEFAULT 0;
ALTER TABLE opportunities ADD COLUMN reassign_pending boolean NOT NULL DEFAULT false;
CREATE INDEX opportunities_offer_deadline ON opportunities (accept_by) WHERE status = 'delivered';
CREATE INDEX opportunities_reassign ON opportunities (updated_at) WHERE reassign_pending;

-- Partner history for the ranking: offers, answers and outcomes per org.
CREATE INDEX opportunity_events_partner ON opportunity_events (partner_org_id, action)
    WHERE partner_org_id IS NOT NULL;
CREATE INDEX opportunity_events_actor_org ON opportunity_events (actor_org_id, action)
    WHERE actor_org_id IS NOT NULL;

-- Ties in the ranking go to the partner assigned least recently.
ALTER TABLE orgs ADD COLUMN last_assigned_at timestamptz;

CREATE INDEX deal_registrations_exclusivity_end ON deal_registrations (exclusive_until)
    WHERE status = 'approved';

-- Transactional outbox: one row per state change, written in the same
-- transaction. `audience` holds the partner orgs that may see it; vendor
-- users see every event.
CREATE TABLE events (
    seq            bigserial PRIMARY KEY,
    id             uuid NOT NULL UNIQUE,
    type           text NOT NULL,
    opportunity_id uuid REFERENCES opportunities (id),
    audience       uuid[] NOT NULL DEFAULT '{}' CHECK (array_position(audience, NULL) IS NULL),
    data           jsonb NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX events_audience ON events USING gin (audience);
CREATE INDEX events_opportunity ON events (opportunity_id, seq);

CREATE TABLE webhooks (
    id                 uuid PRIMARY KEY,
    org_id             uuid NOT NULL REFERENCES orgs (id),
    url                text NOT NULL CHECK (char_length(url) BETWEEN 8 AND 2000),
    -- Event types to send; empty means all.
    event_types        text[] NOT NULL DEFAULT '{}' CHECK (array_position(event_types, NULL) IS NULL),
    secret             text NOT NULL,
    active             boolean NOT NULL DEFAULT true,
    created_by_user_id uuid NOT NULL REFERENCES users (id),
    version            integer NOT NULL DEFAULT 1,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhooks_org ON webhooks (org_id) WHERE active;

CREATE TABLE webhook_deliveries (
    id               uuid PRIMARY KEY,
    webhook_id       uuid NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event_id         uuid NOT NULL REFERENCES events (id),
    status           text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'succeeded', 'failed')),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    lease_until      timestamptz,
    last_status_code integer,
    last_error       text,
    delivered_at     timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (webhook_id, event_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_log ON webhook_deliveries (webhook_id, created_at DESC, id);
