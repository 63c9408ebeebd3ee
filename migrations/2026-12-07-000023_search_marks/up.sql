-- A vendor's newest-first search walks the opportunities in creation order
-- and stops at its page (store::listing::WalkOrGather). A term that one
-- row in seventy holds (`fabrikam 1` at a million opportunities) took a
-- walk of about 3,700 index entries for its 51 matches, each entry read
-- and tested: most of the statement's time (issue 17, point 1).
--
-- Here each opportunity's *marks* are listed apart: the three-character
-- windows of its search_text that hold a character that is neither a
-- letter nor white space (a digit, a punctuation mark), as
-- search_term_grams classes a term's windows. Words repeat their windows
-- across many rows; these are held by few (`m 1` by the rows whose
-- customer is a `Fabrikam 1…`). A term that has such a window is walked on
-- the list of rows holding it, in id order, instead of on every row: each
-- match of the term holds each of its windows, so that list holds every
-- match, in the same order, and the page is the same.
--
-- The list carries each row's search_text, so the walk tests the term in
-- the index entry, as the walk over every row does, without visiting a
-- row. The unit separator between topic and customer name (E'\x1f') is
-- never part of a mark: no term is searched across the two.
--
-- Both functions are PL/pgSQL loops, as the search's older functions of
-- text are since migration search_functions_compiled, which gives the
-- reason (a SQL function that selects is planned on every call).
CREATE FUNCTION search_text_marks(t text) RETURNS text[]
    LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
AS $$
DECLARE
    g text;
    marks text[] := '{}';
BEGIN
    FOR i IN 1 .. char_length(t) - 2 LOOP
        g := substr(t, i, 3);
        IF g ~ '[^[:alpha:][:space:]]' AND strpos(g, E'\x1f') = 0 AND NOT g = ANY(marks) THEN
            marks := marks || g;
        END IF;
    END LOOP;
    RETURN marks;
END
$$;

-- The mark a term's walk follows: of its marks, one with the most
-- characters that are not letters or spaces (they repeat least), the last
-- of those. NULL for a term with no mark: it walks every row, as before.
CREATE FUNCTION search_walk_mark(t text) RETURNS text
    LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
AS $$
DECLARE
    g text;
    best text;
    score int;
    top int := 0;
BEGIN
    FOR i IN 1 .. char_length(t) - 2 LOOP
        g := substr(t, i, 3);
        IF g ~ '[^[:alpha:][:space:]]' AND strpos(g, E'\x1f') = 0 THEN
            score := char_length(regexp_replace(g, '[[:alpha:][:space:]]', '', 'g'));
            IF score >= top THEN
                top := score;
                best := g;
            END IF;
        END IF;
    END LOOP;
    RETURN best;
END
$$;

CREATE TABLE opportunity_marks (
    mark text NOT NULL,
    opportunity_id uuid NOT NULL,
    search_text text NOT NULL
);

-- Kept by triggers, as search_text is, so that every writer keeps the
-- list right: a new row's marks, a changed text's (a topic, a customer, a
-- customer's name), a deleted row's.
CREATE FUNCTION opportunity_marks_kept() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        DELETE FROM opportunity_marks
         WHERE mark = ANY(search_text_marks(OLD.search_text)) AND opportunity_id = OLD.id;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        INSERT INTO opportunity_marks (mark, opportunity_id, search_text)
        SELECT m, NEW.id, NEW.search_text FROM unnest(search_text_marks(NEW.search_text)) AS m;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER opportunities_marks
    AFTER INSERT OR DELETE ON opportunities
    FOR EACH ROW EXECUTE FUNCTION opportunity_marks_kept();
CREATE TRIGGER opportunities_marks_changed
    AFTER UPDATE ON opportunities
    FOR EACH ROW WHEN (OLD.search_text IS DISTINCT FROM NEW.search_text OR OLD.id <> NEW.id)
    EXECUTE FUNCTION opportunity_marks_kept();

INSERT INTO opportunity_marks (mark, opportunity_id, search_text)
SELECT m, o.id, o.search_text FROM opportunities o, unnest(search_text_marks(o.search_text)) AS m;

-- The walk: one mark's rows in id order, each with its text.
ALTER TABLE opportunity_marks ADD PRIMARY KEY (mark, opportunity_id) INCLUDE (search_text);
