CREATE OR REPLACE FUNCTION customer_search_text() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE opportunities
       SET search_text = lower(topic) || E'\x1f' || lower(NEW.name)
     WHERE customer_id = NEW.id;
    RETURN NULL;
END
$$;
DROP TRIGGER customers_search_text ON customers;
CREATE TRIGGER customers_search_text
    AFTER UPDATE OF name ON customers
    FOR EACH ROW WHEN (OLD.name IS DISTINCT FROM NEW.name)
    EXECUTE FUNCTION customer_search_text();

CREATE OR REPLACE FUNCTION opportunity_search_text() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.search_text := lower(NEW.topic) || E'\x1f'
        || lower(coalesce((SELECT c.name FROM customers c WHERE c.id = NEW.customer_id), ''));
    RETURN NEW;
END
$$;
DROP TRIGGER opportunities_search_text ON opportunities;
CREATE TRIGGER opportunities_search_text
    BEFORE INSERT OR UPDATE OF topic, customer_id ON opportunities
    FOR EACH ROW EXECUTE FUNCTION opportunity_search_text();

ALTER TABLE opportunities DROP COLUMN customer_name, DROP COLUMN customer_org_id;
