DROP INDEX opportunities_primary;
CREATE INDEX opportunities_primary ON opportunities (primary_partner_id, id)
    WHERE primary_partner_id IS NOT NULL;
