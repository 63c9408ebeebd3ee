-- Indexes the list views and text search use at scale: a partner's offers by
-- status (view=distributed/managed, dashboards) newest first, and trigram
-- indexes so `q` can match topic and customer name without a full scan.
CREATE INDEX opportunities_primary_status ON opportunities (primary_partner_id, status, id DESC)
    WHERE primary_partner_id IS NOT NULL;
CREATE INDEX opportunities_owner_user_status ON opportunities (owner_user_id, status, id DESC);
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX opportunities_topic_trgm ON opportunities USING gin (topic gin_trgm_ops);
CREATE INDEX customers_name_trgm ON customers USING gin (name gin_trgm_ops);
