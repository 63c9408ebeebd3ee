-- The partner's close-date and revenue indexes also hold the column their
-- sort key is computed from (issue 17, point 6; docs/performance.md, "A
-- partner's sorted lists read from their index"). Postgres reads an index
-- alone only when every column a statement names is in it as a column: a
-- key written as coalesce(expected_close_date, ...) does not count for
-- expected_close_date. Without the column, the close-date list kept
-- reading every row of the partner from the table and sorting them; with
-- it, the walk is index-only and stops at the page, as the updated_at
-- list's does since 2026-12-07-000025.
DROP INDEX opportunities_primary_close_key;
CREATE INDEX opportunities_primary_close_key
    ON opportunities (primary_partner_id, (coalesce(expected_close_date, DATE '9999-12-31')), id)
    INCLUDE (status, origin, owner_org_id, expected_close_date)
    WHERE primary_partner_id IS NOT NULL;
DROP INDEX opportunities_primary_revenue_key;
CREATE INDEX opportunities_primary_revenue_key
    ON opportunities (primary_partner_id, (coalesce(estimated_revenue, -1)), id)
    INCLUDE (status, origin, owner_org_id, estimated_revenue)
    WHERE primary_partner_id IS NOT NULL;
