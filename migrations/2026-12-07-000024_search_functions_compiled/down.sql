CREATE OR REPLACE FUNCTION search_grams(t text) RETURNS text[]
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
    SELECT coalesce(array_agg(DISTINCT substr(t, i, 3)), '{}'::text[])
      FROM generate_series(1, char_length(t) - 2) AS i
$$;

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
