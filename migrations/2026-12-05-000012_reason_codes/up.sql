-- Reason codes (DOMAIN.md, "Reasons"): decline, return, reject, cancel and a
-- lost close take a code from the vendor's list in the policy, plus an
-- optional text (`reason`, as before); `other` needs the text.

-- The vendor's list: 1 to 50 codes, `other` among them (the domain checks
-- each code's shape and that none repeats; these hold the rest).
ALTER TABLE policies ADD COLUMN reason_codes text[] NOT NULL
    DEFAULT '{no_capacity,not_our_territory,customer_not_interested,budget,competitor,timing,duplicate,other}'
    CHECK (cardinality(reason_codes) BETWEEN 1 AND 50
           AND array_position(reason_codes, NULL) IS NULL
           AND 'other' = ANY (reason_codes));

-- The code of a user's reason on its status event, and of a loss on the
-- opportunity. The system's transitions (expiry, automatic re-assignment)
-- have none.
ALTER TABLE opportunity_events ADD COLUMN reason_code text
    CHECK (reason_code ~ '^[a-z][a-z0-9_]{0,39}$');
ALTER TABLE opportunities ADD COLUMN close_reason_code text
    CHECK (close_reason_code ~ '^[a-z][a-z0-9_]{0,39}$');

-- What was given before codes existed was a text alone, which is what
-- `other` means now. Status events are append-only; this one backfill is
-- the exception, inside this migration's transaction.
ALTER TABLE opportunity_events DISABLE TRIGGER opportunity_events_append_only;
UPDATE opportunity_events SET reason_code = 'other'
 WHERE reason IS NOT NULL
   AND actor_user_id IS NOT NULL
   AND (action IN ('decline', 'return', 'reject', 'cancel')
        OR (action = 'close' AND to_status = 'lost'));
ALTER TABLE opportunity_events ENABLE TRIGGER opportunity_events_append_only;
UPDATE opportunities SET close_reason_code = 'other'
 WHERE status = 'lost' AND close_reason IS NOT NULL;

-- The vendor dashboard counts declines and losses by reason and partner over
-- the last 90 days: each side is a range scan of its own partial index that
-- holds every column the count reads (crates/store/src/dashboard.rs).
CREATE INDEX opportunity_events_declines ON opportunity_events (created_at)
    INCLUDE (partner_org_id, reason_code) WHERE action = 'decline';
CREATE INDEX opportunities_lost ON opportunities (closed_at)
    INCLUDE (primary_partner_id, close_reason_code) WHERE status = 'lost';
