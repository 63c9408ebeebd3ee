-- Deterministic benchmark dataset (make bench). Variables:
--   :partners  partner orgs (a fifth are distributors, half the resellers under one)
--   :opps      opportunities spread over statuses, customers and partners
--   :accepts   extra offers delivered to partner 0, consumed by the accept case
-- Every "random" choice is a hash of the row number, so runs repeat exactly.
\set ON_ERROR_STOP on
SET max_parallel_workers_per_gather = 0;
SET synchronous_commit = off;

INSERT INTO orgs (id, name, kind, parent_id, countries, industries, product_lines, tier, capacity, accepting)
SELECT md5('org' || i)::uuid,
       format('Bench Partner %s', lpad(i::text, 5, '0')),
       CASE WHEN i < :partners / 5 THEN 'distributor' ELSE 'reseller' END,
       CASE WHEN i >= :partners / 5 AND i % 2 = 0 THEN md5('org' || (i % (:partners / 5)))::uuid END,
       ARRAY[(ARRAY['DE','FR','GB','US','AT','NL','IT','ES'])[1 + i % 8]],
       ARRAY[(ARRAY['retail','finance','manufacturing','health'])[1 + i % 4]],
       ARRAY[(ARRAY['cloud','security','network','devices'])[1 + i % 4]],
       (ARRAY['registered','silver','gold','platinum'])[1 + i % 4],
       1000000, true
FROM generate_series(0, :partners - 1) i;

INSERT INTO users (id, subject, org_id, role, name, email)
SELECT md5('u-' || r || i)::uuid, format('bench-p%s-%s', i, r), md5('org' || i)::uuid,
       CASE r WHEN 'admin' THEN 'partner_admin' WHEN 'am' THEN 'account_manager' ELSE 'account_manager_director' END,
       format('P%s %s', i, r), format('p%s-%s@bench.invalid', i, r)
FROM generate_series(0, :partners - 1) i, unnest(ARRAY['admin', 'am', 'director']) r;
INSERT INTO users (id, subject, org_id, role, name, email)
SELECT md5('u-cm')::uuid, 'bench-cm', id, 'channel_manager', 'Bench CM', 'cm@bench.invalid'
FROM orgs WHERE kind = 'vendor';

INSERT INTO customers (id, org_id, name, name_key, country, industry, registration)
SELECT md5('c' || p || '-' || k)::uuid, md5('org' || p)::uuid,
       format('%s %s-%s GmbH', (ARRAY['Fabrikam','Contoso','Litware','Woodgrove','Tailspin','Northwind'])[1 + (p + k) % 6], p, k),
       format('%s %s %s', lower((ARRAY['Fabrikam','Contoso','Litware','Woodgrove','Tailspin','Northwind'])[1 + (p + k) % 6]), p, k),
       'DE', 'retail', 'preregistered'
FROM generate_series(0, :partners - 1) p, generate_series(0, 49) k;
INSERT INTO customers (id, org_id, name, name_key, country, industry, registration)
SELECT md5('vc' || k)::uuid, (SELECT id FROM orgs WHERE kind = 'vendor'),
       format('Vendor Account %s Ltd', k), format('vendor account %s', k), 'GB', 'finance', 'vendor_owned'
FROM generate_series(0, 999) k;

CREATE TEMP TABLE gen AS
SELECT i, h, p, s,
       CASE WHEN s < 5 THEN 'draft' WHEN s < 15 THEN 'pending_approval' WHEN s < 30 THEN 'delivered'
            WHEN s < 70 THEN 'accepted' WHEN s < 75 THEN 'declined' WHEN s < 78 THEN 'returned'
            WHEN s < 80 THEN 'expired' WHEN s < 92 THEN 'won' WHEN s < 98 THEN 'lost'
            WHEN s < 99 THEN 'canceled' ELSE 'rejected' END AS status,
       (s BETWEEN 5 AND 14) OR s >= 99 OR ((s BETWEEN 30 AND 69 OR s BETWEEN 80 AND 97) AND h % 10 < 3) AS by_partner
FROM (SELECT i, abs(hashint4(i)) AS h, (abs(hashint4(i)) / 100) % :partners AS p, abs(hashint4(i)) % 100 AS s
      FROM generate_series(0, :opps - 1) i) x;

INSERT INTO opportunities (id, topic, customer_id, contact_name, contact_email, contact_phone, currency,
    estimated_revenue, expected_close_date, customer_need, country, industry, product_lines, origin, status,
    owner_org_id, owner_user_id, primary_partner_id, pipeline_phase, win_probability, accept_by, expires_on,
    close_reason, actual_revenue, closed_at, created_at, updated_at, created_by_user_id)
SELECT md5('o' || i)::uuid,
       format('%s for %s', (ARRAY['Cloud migration','Security review','Network refresh','Device rollout','Data platform'])[1 + h % 5],
              (ARRAY['stores','plants','branches','offices'])[1 + (h / 7) % 4]),
       CASE WHEN by_partner THEN md5('c' || p || '-' || (i % 50))::uuid ELSE md5('vc' || (i % 1000))::uuid END,
       'Jo Park', 'jo@customer.example', '+49 30 1234',
       (ARRAY['EUR','USD'])[1 + h % 2], 1000 + (h % 500000), current_date + (h % 180),
       'Lower running costs', 'DE', 'retail',
       ARRAY[(ARRAY['cloud','security','network','devices'])[1 + h % 4]],
       CASE WHEN by_partner THEN 'partner' ELSE 'vendor' END,
       status,
       CASE WHEN by_partner OR status IN ('accepted','won','lost') THEN md5('org' || p)::uuid ELSE (SELECT id FROM orgs WHERE kind = 'vendor') END,
       CASE WHEN by_partner OR status IN ('accepted','won','lost') THEN md5('u-am' || p)::uuid ELSE md5('u-cm')::uuid END,
       CASE WHEN status IN ('delivered','accepted','declined','returned','expired','won','lost') THEN md5('org' || p)::uuid END,
       CASE WHEN status IN ('accepted','won','lost') THEN (ARRAY['qualify','develop','propose','negotiate','commit'])[1 + h % 5] END,
       CASE WHEN status IN ('accepted','won','lost') THEN (h % 101)::smallint END,
       CASE WHEN status = 'delivered' THEN now() + ((1 + h % 72) || ' hours')::interval END,
       CASE WHEN status = 'accepted' THEN current_date + (h % 120) END,
       CASE WHEN status IN ('won','lost') THEN 'closed by the benchmark seed' END,
       CASE WHEN status = 'won' THEN 900 + (h % 400000) END,
       CASE WHEN status IN ('won','lost') THEN now() - ((h % 200) || ' days')::interval END,
       now() - ((h % 365) || ' days')::interval,
       now() - ((h % 30) || ' days')::interval,
       CASE WHEN by_partner THEN md5('u-am' || p)::uuid ELSE md5('u-cm')::uuid END
FROM gen;

-- Offers to partner 1 for the accept case to consume, one per request (a
-- partner of its own, so the list and dashboard cases stay realistic).
INSERT INTO opportunities (id, topic, customer_id, currency, estimated_revenue, country, industry,
    product_lines, origin, status, owner_org_id, owner_user_id, primary_partner_id, accept_by, created_by_user_id)
SELECT md5('acc' || i)::uuid, 'Offer to accept', md5('vc' || (i % 1000))::uuid, 'EUR', 5000, 'DE', 'retail',
       ARRAY['cloud'], 'vendor', 'delivered', (SELECT id FROM orgs WHERE kind = 'vendor'), md5('u-cm')::uuid,
       md5('org1')::uuid, now() + interval '3 days', md5('u-cm')::uuid
FROM generate_series(0, :accepts - 1) i;

INSERT INTO opportunity_collaborators (opportunity_id, org_id)
SELECT md5('o' || i)::uuid, md5('org' || ((p + 1) % :partners))::uuid FROM gen
WHERE status = 'accepted' AND h % 50 = 0;

INSERT INTO opportunity_events (id, opportunity_id, actor_user_id, actor_org_id, partner_org_id, action, from_status, to_status, created_at)
SELECT md5('e' || i)::uuid, md5('o' || i)::uuid,
       CASE WHEN by_partner THEN md5('u-am' || p)::uuid ELSE md5('u-cm')::uuid END, NULL,
       CASE WHEN by_partner THEN md5('org' || p)::uuid END,
       'create', NULL, CASE WHEN by_partner THEN 'pending_approval' ELSE 'draft' END, now() - ((h % 365) || ' days')::interval
FROM gen;
INSERT INTO opportunity_events (id, opportunity_id, actor_user_id, partner_org_id, action, from_status, to_status, created_at)
SELECT md5('d' || i)::uuid, md5('o' || i)::uuid, md5('u-cm')::uuid, md5('org' || p)::uuid, 'distribute', 'draft', 'delivered',
       now() - ((h % 300) || ' days')::interval
FROM gen WHERE NOT by_partner AND status IN ('delivered','accepted','declined','returned','expired','won','lost');
INSERT INTO opportunity_events (id, opportunity_id, actor_user_id, actor_org_id, partner_org_id, action, from_status, to_status, created_at)
SELECT md5('a' || i)::uuid, md5('o' || i)::uuid, md5('u-admin' || p)::uuid, md5('org' || p)::uuid, md5('org' || p)::uuid,
       'accept', 'delivered', 'accepted', now() - ((h % 299) || ' days')::interval
FROM gen WHERE NOT by_partner AND status IN ('accepted','won','lost');

INSERT INTO notes (id, opportunity_id, author_user_id, author_org_id, body, internal)
SELECT md5('n' || i)::uuid, md5('o' || i)::uuid, md5('u-cm')::uuid, (SELECT id FROM orgs WHERE kind = 'vendor'),
       'Customer asked for a second demo', h % 3 = 0
FROM gen WHERE i % 4 = 0;
INSERT INTO progress_entries (id, opportunity_id, author_user_id, author_org_id, development_phase, win_probability, progress_details)
SELECT md5('pr' || i)::uuid, md5('o' || i)::uuid, md5('u-am' || p)::uuid, md5('org' || p)::uuid,
       (ARRAY['qualify','develop','propose','negotiate','commit'])[1 + h % 5], (h % 101)::smallint, 'Proposal sent'
FROM gen WHERE status IN ('accepted','won','lost');

-- For pgbench: the n-th opportunity's id, so scripts can pick one at random.
CREATE TABLE bench_ids AS SELECT i + 1 AS n, md5('o' || i)::uuid AS id FROM gen;
ALTER TABLE bench_ids ADD PRIMARY KEY (n);
CREATE TABLE bench_accept_ids AS SELECT i + 1 AS n, md5('acc' || i)::uuid AS id FROM generate_series(0, :accepts - 1) i;
ALTER TABLE bench_accept_ids ADD PRIMARY KEY (n);
ANALYZE;
