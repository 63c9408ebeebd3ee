-- The search's trigram indexes take each new entry at once (issue 17).
-- With GIN's default fast update, new entries wait in a pending list that
-- every search scans whole until a vacuum merges it: after the bench's
-- creates (5,190 entries on 214 pages of opportunities_topic_trgm), a rare
-- term's search ran at 271 statements/s against 1,656 on the same data
-- without them. An insert now updates the index itself (a topic's or a
-- name's few dozen trigrams).
ALTER INDEX opportunities_topic_trgm SET (fastupdate = off);
ALTER INDEX customers_name_trgm SET (fastupdate = off);
-- What waits already is merged now.
SELECT gin_clean_pending_list('opportunities_topic_trgm'::regclass);
SELECT gin_clean_pending_list('customers_name_trgm'::regclass);
