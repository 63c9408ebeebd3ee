DROP INDEX opportunities_search_walk;
DROP TRIGGER customers_search_text ON customers;
DROP FUNCTION customer_search_text();
DROP TRIGGER opportunities_search_text ON opportunities;
DROP FUNCTION opportunity_search_text();
ALTER TABLE opportunities DROP COLUMN search_text;
