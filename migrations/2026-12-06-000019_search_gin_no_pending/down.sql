ALTER INDEX opportunities_topic_trgm RESET (fastupdate);
ALTER INDEX customers_name_trgm RESET (fastupdate);
