DROP TABLE opportunity_events;
DROP FUNCTION refuse_change();
DROP TABLE opportunity_collaborators;
DROP TABLE opportunities;
DROP SEQUENCE opportunity_reference_seq;
DROP TABLE customers;
DROP TABLE users;
DROP TABLE orgs;
