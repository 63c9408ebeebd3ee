-- What `q` searches, on the opportunity itself: its topic and its
-- customer's name, case-folded with lower() and kept apart by a unit
-- separator (E'\x1f') so that no term spans the two. Kept by triggers, so
-- every writer (routes, worker, imports, seed, hand-run SQL) keeps it right:
-- set from the customer when an opportunity is written, and on every one of
-- a customer's opportunities when the customer is renamed.
--
-- It lets a search test a row by itself, without its customer: a partner's
-- search tests its visible rows one by one, and the vendor's newest-first
-- search walks the index below in order and stops at its page, instead of
-- gathering every match of a common term and sorting them.
ALTER TABLE opportunities ADD COLUMN search_text text;

CREATE FUNCTION opportunity_search_text() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.search_text := lower(NEW.topic) || E'\x1f'
        || lower(coalesce((SELECT c.name FROM customers c WHERE c.id = NEW.customer_id), ''));
    RETURN NEW;
END
$$;
CREATE TRIGGER opportunities_search_text
    BEFORE INSERT OR UPDATE OF topic, customer_id ON opportunities
    FOR EACH ROW EXECUTE FUNCTION opportunity_search_text();

CREATE FUNCTION customer_search_text() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE opportunities
       SET search_text = lower(topic) || E'\x1f' || lower(NEW.name)
     WHERE customer_id = NEW.id;
    RETURN NULL;
END
$$;
CREATE TRIGGER customers_search_text
    AFTER UPDATE OF name ON customers
    FOR EACH ROW WHEN (OLD.name IS DISTINCT FROM NEW.name)
    EXECUTE FUNCTION customer_search_text();

UPDATE opportunities o
   SET search_text = lower(o.topic) || E'\x1f' || lower(c.name)
  FROM customers c
 WHERE c.id = o.customer_id;
ALTER TABLE opportunities ALTER COLUMN search_text SET NOT NULL;

-- The newest-first (or oldest-first) walk reads the id and the text from
-- the index alone.
CREATE INDEX opportunities_search_walk ON opportunities (id) INCLUDE (search_text);
