DROP TRIGGER opportunities_marks_changed ON opportunities;
DROP TRIGGER opportunities_marks ON opportunities;
DROP FUNCTION opportunity_marks_kept();
DROP TABLE opportunity_marks;
DROP FUNCTION search_walk_mark(text);
DROP FUNCTION search_text_marks(text);
