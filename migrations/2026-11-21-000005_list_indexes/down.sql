DROP INDEX customers_name_trgm;
DROP INDEX opportunities_topic_trgm;
DROP INDEX opportunities_owner_user_status;
DROP INDEX opportunities_primary_status;
