-- A partner's dashboard counts its opportunities by status, phase and dates,
-- and sums its offers' value by currency.
-- With those columns included, the index answers it without visiting the
-- table (docs/performance.md, "dashboard").
DROP INDEX opportunities_primary;
CREATE INDEX opportunities_primary ON opportunities (primary_partner_id, id)
    INCLUDE (status, origin, owner_org_id, owner_user_id, accept_by, pipeline_phase,
             expires_on, closed_at, currency, estimated_revenue)
    WHERE primary_partner_id IS NOT NULL;
