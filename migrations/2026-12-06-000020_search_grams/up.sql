-- The gather of a search (a term the walk in creation order does not meet
-- early) finds its candidates by every three-character window of the
-- case-folded term, punctuation, digits and spaces included (issue 17).
--
-- pg_trgm's trigrams are of words: it splits text at every character that
-- is not a letter or a digit. For `fabrikam 12-3` it kept only the
-- trigrams of `fabrikam`, `12` and `3`, each held by tens of thousands of
-- names at a million opportunities, and the selective part, `12-3`, was
-- invisible to the index: 2.1-2.9 ms of decoding posting lists for two
-- matches. Here `12-`, `2-3` and `m 1` are keys, and GIN intersects the
-- rarest lists first.
--
-- Every window of a text that holds the term holds the term's windows, so
-- `search_grams(lower(x)) @> search_grams(lower(term))` never misses a
-- match; the ILIKE beside it rechecks the candidates. A term shorter than
-- three characters has no windows and matches every row's array.
CREATE FUNCTION search_grams(t text) RETURNS text[]
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
    SELECT coalesce(array_agg(DISTINCT substr(t, i, 3)), '{}'::text[])
      FROM generate_series(1, char_length(t) - 2) AS i
$$;

-- The windows a term asks the index for: every third one from the first,
-- and the last, so that each character of the term is in one. Any subset
-- of the term's windows finds every match; this one asks for about a
-- third of them. Each common window costs the index a long posting list to
-- decode: at a million opportunities, `fabrikam 12-3` took 1.4-1.6 ms in
-- customers_name_grams with all eleven windows (4 candidates) and 0.5-0.7
-- ms with these five (84 candidates, rechecked by the pattern).
CREATE FUNCTION search_term_grams(t text) RETURNS text[]
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
    SELECT coalesce(array_agg(DISTINCT substr(t, i, 3)), '{}'::text[])
      FROM generate_series(1, char_length(t) - 2) AS i
     WHERE i % 3 = 1 OR i = char_length(t) - 2
$$;

-- Written at once, as the trigram indexes they replace were (no pending
-- list for every search to scan).
CREATE INDEX opportunities_topic_grams ON opportunities
    USING gin (search_grams(lower(topic))) WITH (fastupdate = off);
CREATE INDEX customers_name_grams ON customers
    USING gin (search_grams(lower(name))) WITH (fastupdate = off);

-- Only the search read them.
DROP INDEX opportunities_topic_trgm;
DROP INDEX customers_name_trgm;

-- A gathered term's customers give its opportunities from this index
-- alone, ids included, in one index-only scan; with the customer's id
-- alone, every match's row was visited (`fabrikam 12` at a million
-- opportunities: 1,119 rows on as many pages, 23-26 ms; this way 4-5 ms).
CREATE INDEX opportunities_customer_id ON opportunities (customer_id, id);
DROP INDEX opportunities_customer;
