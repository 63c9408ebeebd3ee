-- Which of a term's three-character windows the search asks the windows'
-- indexes for (issue 17, point 1). Any subset of a term's windows finds
-- every text that holds the term (the pattern rechecks the candidates), so
-- this decides only how much of each index is read.
--
-- Until now: a third of the windows, covering each character of the term.
-- In names and topics, windows of letters repeat across many words
-- (`fab`, `am ` and `rik` are each held by 41,667 of the 251,000 customers'
-- names at a million opportunities) and each is a long posting list to
-- decode; a window that holds a digit or a punctuation mark is held by few
-- (`12-` by 2,500, ` 12` by 5,561). Where a term has such windows, the
-- index is now asked for every one of them and for nothing else; a term
-- of letters and spaces alone keeps the cover.
--
-- At a million opportunities, customers' side of the search alone, warm
-- (EXPLAIN ANALYZE, four runs): `fabrikam 12-3` 1.04-1.40 ms and 84
-- candidates before, 0.39-0.54 ms and 4 candidates now; `contoso 4711`
-- 0.52-0.72 -> 0.25-0.34 ms; `vendor account 7` 0.21-0.42 -> 0.15 ms;
-- `fabrikam 12` 1.97-2.94 -> 1.40-2.16 ms. No term measured was slower.
-- The whole rare search (`fabrikam 12-3`, the bench's SQL, pgbench at 16
-- connections): 1,411-1,459 statements/s before, 2,350-2,582 now.
--
-- A mark is any character that is neither a letter nor white space, as
-- the database's locale classes them; only the speed depends on it.
CREATE OR REPLACE FUNCTION search_term_grams(t text) RETURNS text[]
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
    SELECT coalesce(
        (SELECT array_agg(DISTINCT g) FROM (
            SELECT substr(t, i, 3) AS g FROM generate_series(1, char_length(t) - 2) AS i) w
          WHERE g ~ '[^[:alpha:][:space:]]'),
        (SELECT coalesce(array_agg(DISTINCT substr(t, i, 3)), '{}'::text[])
           FROM generate_series(1, char_length(t) - 2) AS i
          WHERE i % 3 = 1 OR i = char_length(t) - 2))
$$;
