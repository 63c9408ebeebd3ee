DROP INDEX opportunities_primary_close_key;
CREATE INDEX opportunities_primary_close_key
    ON opportunities (primary_partner_id, (coalesce(expected_close_date, DATE '9999-12-31')), id)
    INCLUDE (status, origin, owner_org_id)
    WHERE primary_partner_id IS NOT NULL;
DROP INDEX opportunities_primary_revenue_key;
CREATE INDEX opportunities_primary_revenue_key
    ON opportunities (primary_partner_id, (coalesce(estimated_revenue, -1)), id)
    INCLUDE (status, origin, owner_org_id)
    WHERE primary_partner_id IS NOT NULL;
