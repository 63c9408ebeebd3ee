-- A partner's search tests the term in indexes of the visibility's arms
-- (issue 17, point 1; store::listing::SeenHolding): the opportunities a
-- partner brought in, by owner org, and the offers, by primary partner and
-- status, hold each opportunity's search_text, as the primary key's
-- opportunities_search_walk does. A partner's rows that hold the term are
-- then found without visiting the table, and only they are read from it.
-- Before, every row the partner may see was visited for its text: at a
-- million opportunities a distributor's 824 rows on 822 pages, for 13
-- matches.
CREATE INDEX opportunities_partner_created ON opportunities (owner_org_id, id)
    INCLUDE (search_text) WHERE origin = 'partner';
DROP INDEX opportunities_primary_status;
CREATE INDEX opportunities_primary_status ON opportunities (primary_partner_id, status, id DESC)
    INCLUDE (search_text) WHERE primary_partner_id IS NOT NULL;
