-- Every documented list shape reads about a page (issue 17; the test
-- tests/api/list_plans.rs and docs/performance.md, "Bounded list plans").
-- A page is chosen by walking an index in the list's order from the cursor
-- on, so each order needs an index of its own for everything (vendor users),
-- for a partner's opportunities (partner_id, the distributed and managed
-- views, a partner's visibility) and for an owner's (account managers,
-- view=mine). Creation order (the id) had them all; these add updated_at,
-- the close date and the revenue, the last two as the lists sort them, with
-- the nulls last.
CREATE INDEX opportunities_close_key
    ON opportunities ((coalesce(expected_close_date, DATE '9999-12-31')), id);
CREATE INDEX opportunities_revenue_key
    ON opportunities ((coalesce(estimated_revenue, -1)), id);
CREATE INDEX opportunities_primary_updated
    ON opportunities (primary_partner_id, updated_at, id)
    WHERE primary_partner_id IS NOT NULL;
CREATE INDEX opportunities_primary_close_key
    ON opportunities (primary_partner_id, (coalesce(expected_close_date, DATE '9999-12-31')), id)
    WHERE primary_partner_id IS NOT NULL;
CREATE INDEX opportunities_primary_revenue_key
    ON opportunities (primary_partner_id, (coalesce(estimated_revenue, -1)), id)
    WHERE primary_partner_id IS NOT NULL;
CREATE INDEX opportunities_owner_user_updated
    ON opportunities (owner_user_id, updated_at, id);
CREATE INDEX opportunities_owner_user_close_key
    ON opportunities (owner_user_id, (coalesce(expected_close_date, DATE '9999-12-31')), id);
CREATE INDEX opportunities_owner_user_revenue_key
    ON opportunities (owner_user_id, (coalesce(estimated_revenue, -1)), id);
-- The raw close date orders no list (they sort by the key above) and no
-- other statement reads by it.
DROP INDEX opportunities_close_date;
