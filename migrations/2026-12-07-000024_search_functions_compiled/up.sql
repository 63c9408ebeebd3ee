-- The search's older functions of text, search_grams and
-- search_term_grams, written as PL/pgSQL loops instead of SQL statements
-- (issue 17, points 1 and 3), as migration search_marks writes its own.
-- Same results, as sets: what `q` matches, what the indexes hold and which
-- windows a term asks for do not change.
--
-- A SQL function that is not inlined (these select FROM generate_series)
-- is planned again on each statement that calls it. Measured on the marks'
-- two functions while they were statements, called with a value the
-- planner cannot fold: search_walk_mark on a term of 13 characters cost
-- about 110 us of the database's CPU, search_text_marks on a search_text
-- of 45 about 180 us (pgbench, 2 connections on 2 cores); as loops, 22 us
-- and 47 us. A rare term's gather calls search_term_grams twice; every
-- create calls search_grams for the topic's index.

CREATE OR REPLACE FUNCTION search_grams(t text) RETURNS text[]
    LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
AS $$
DECLARE
    g text;
    windows text[] := '{}';
BEGIN
    FOR i IN 1 .. char_length(t) - 2 LOOP
        g := substr(t, i, 3);
        IF NOT g = ANY(windows) THEN
            windows := windows || g;
        END IF;
    END LOOP;
    RETURN windows;
END
$$;

-- A term's marked windows where it has any, else the cover: every third
-- window from the first, and the last (migration search_term_windows).
CREATE OR REPLACE FUNCTION search_term_grams(t text) RETURNS text[]
    LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
AS $$
DECLARE
    n int := char_length(t) - 2;
    g text;
    marked text[] := '{}';
    cover text[] := '{}';
BEGIN
    FOR i IN 1 .. n LOOP
        g := substr(t, i, 3);
        IF g ~ '[^[:alpha:][:space:]]' THEN
            IF NOT g = ANY(marked) THEN
                marked := marked || g;
            END IF;
        ELSIF (i % 3 = 1 OR i = n) AND NOT g = ANY(cover) THEN
            cover := cover || g;
        END IF;
    END LOOP;
    IF cardinality(marked) > 0 THEN
        RETURN marked;
    END IF;
    RETURN cover;
END
$$;
