DROP INDEX opportunities_partner_created;
DROP INDEX opportunities_primary_status;
CREATE INDEX opportunities_primary_status ON opportunities (primary_partner_id, status, id DESC)
    WHERE primary_partner_id IS NOT NULL;
