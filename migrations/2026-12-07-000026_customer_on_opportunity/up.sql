-- The customer's name and holding org on the opportunity itself (issue 17,
-- point 6; docs/performance.md, "A page without its customers' probes").
-- Every read of a view joined customers, one probe of their primary key per
-- row: fifty-one descents of a three-level index for a list page, about
-- half of the btree descents Postgres made for it, and 20-30 % more list
-- statements a second without them at 1M. They are kept by the triggers
-- that already keep search_text, so that every writer (routes, worker,
-- imports, seed, hand-run SQL) keeps them right: set from the customer when
-- an opportunity is written (written directly, they are set again from the
-- customer), and on every one of a customer's opportunities when the
-- customer is renamed or passes to another org. Visibility and masking read
-- the org from here, in the same transaction as the customer's change.
ALTER TABLE opportunities ADD COLUMN customer_name text, ADD COLUMN customer_org_id uuid;

UPDATE opportunities o
   SET customer_name = c.name, customer_org_id = c.org_id
  FROM customers c
 WHERE c.id = o.customer_id;
ALTER TABLE opportunities ALTER COLUMN customer_name SET NOT NULL,
                          ALTER COLUMN customer_org_id SET NOT NULL;

CREATE OR REPLACE FUNCTION opportunity_search_text() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    SELECT c.name, c.org_id INTO NEW.customer_name, NEW.customer_org_id
      FROM customers c WHERE c.id = NEW.customer_id;
    NEW.search_text := lower(NEW.topic) || E'\x1f' || lower(coalesce(NEW.customer_name, ''));
    RETURN NEW;
END
$$;
DROP TRIGGER opportunities_search_text ON opportunities;
CREATE TRIGGER opportunities_search_text
    BEFORE INSERT OR UPDATE OF topic, customer_id, customer_name, customer_org_id ON opportunities
    FOR EACH ROW EXECUTE FUNCTION opportunity_search_text();

-- Setting the copies fires the trigger above, which reads them (and the
-- search text) from the customer; a changed search text then changes the
-- opportunity's marks (migration search_marks).
CREATE OR REPLACE FUNCTION customer_search_text() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE opportunities
       SET customer_name = NEW.name, customer_org_id = NEW.org_id
     WHERE customer_id = NEW.id;
    RETURN NULL;
END
$$;
DROP TRIGGER customers_search_text ON customers;
CREATE TRIGGER customers_search_text
    AFTER UPDATE OF name, org_id ON customers
    FOR EACH ROW WHEN (OLD.name IS DISTINCT FROM NEW.name OR OLD.org_id IS DISTINCT FROM NEW.org_id)
    EXECUTE FUNCTION customer_search_text();
