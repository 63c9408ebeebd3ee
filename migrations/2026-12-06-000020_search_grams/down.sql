CREATE INDEX opportunities_customer ON opportunities (customer_id);
DROP INDEX opportunities_customer_id;
CREATE INDEX opportunities_topic_trgm ON opportunities USING gin (topic gin_trgm_ops) WITH (fastupdate = off);
CREATE INDEX customers_name_trgm ON customers USING gin (name gin_trgm_ops) WITH (fastupdate = off);
DROP INDEX opportunities_topic_grams;
DROP INDEX customers_name_grams;
DROP FUNCTION search_term_grams(text);
DROP FUNCTION search_grams(text);
