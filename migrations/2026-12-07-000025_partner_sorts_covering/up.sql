-- A partner's lists by a partner and by updated_at, the close date or the
-- revenue (issue 17, points 2 and 6; docs/performance.md, "A partner's
-- sorted lists read from their index"): the partner's visibility is tested
-- on every row of the walk (what its orgs brought in, the live offers to
-- them, their collaborations), and these indexes did not hold the columns
-- it reads. The planner, which estimates the visibility to pass few rows,
-- then read every row of the partner from the table and sorted them
-- (a bitmap scan of the bench's partner's 181 rows on 181 pages for a page
-- of 51). Holding status, origin and owner org, the walk tests the
-- visibility in the index, in the list's order, and stops at the page.
-- The close-date and revenue indexes also hold the column their key is
-- computed from: Postgres reads an index alone only when every column a
-- statement names is in it as a column, and a key written as
-- coalesce(expected_close_date, ...) does not count for expected_close_date
-- (without it the close-date list kept its scan of the partner's rows and
-- its sort).
DROP INDEX opportunities_primary_updated;
CREATE INDEX opportunities_primary_updated
    ON opportunities (primary_partner_id, updated_at, id)
    INCLUDE (status, origin, owner_org_id)
    WHERE primary_partner_id IS NOT NULL;
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
