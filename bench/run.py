#!/usr/bin/env python3
"""make bench: the service against the database's own limit, side by side.

Seeds a deterministic dataset into its own database, starts the release
binary on a loopback port, and for each case runs the HTTP load (wrk) and the
same SQL straight against Postgres (pgbench -M prepared), interleaving rounds
so drift hits every case alike. Writes target/bench/report.json and prints a
summary line. Only 127.0.0.1 is ever targeted; every run is bounded in time.
"""
import hashlib, json, os, re, socket, statistics, subprocess, sys, time, urllib.parse, urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "target", "bench")
PRM = os.path.join(ROOT, "target", "release", "prm")
SERVER = os.environ.get("PRM_TEST_DATABASE_SERVER", "postgres://postgres@127.0.0.1:5432")
SCALES = {"100k": (200, 100_000), "1m": (5_000, 1_000_000)}
SCALE = os.environ.get("BENCH_SCALE", "100k")
PARTNERS, OPPS = SCALES[SCALE]
SECONDS = int(os.environ.get("BENCH_SECONDS", "5"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
CASES = [c for c in os.environ.get("BENCH_CASES", "").split(",") if c]
DB = f"prm_bench_{SCALE}"
# The search cases' terms, the same for the service and the database side:
# vendor-wide a common and a rare one, and a distributor's.
TERMS = {"search": "fabrikam 1", "search_rare": "fabrikam 12-3", "search_partner": "fabrikam"}
# Both the service and pgbench reach Postgres over loopback without TLS:
# libpq's default (sslmode=prefer) encrypts even 127.0.0.1, which cost the
# list about 14 % of its throughput and helps neither side's figures.
URL = f"{SERVER}/{DB}?sslmode=disable"

def seed_key():
    """A digest of what the dataset depends on: the migrations and the seed."""
    h = hashlib.sha256()
    for d, _, files in sorted(os.walk(os.path.join(ROOT, "migrations"))):
        for f in sorted(files):
            h.update(open(os.path.join(d, f), "rb").read())
    h.update(open(os.path.join(ROOT, "bench", "seed.sql"), "rb").read())
    return h.hexdigest()[:10]

def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, text=True, capture_output=True, **kw).stdout

def psql_at(url, sql):
    return sh(["psql", url, "-Atqc", sql]).strip()

def psql(sql):
    return psql_at(URL, sql)

def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p

def token(subject):
    return sh([PRM, "token", "--subject", subject, "--ttl-hours", "2"]).strip()

def wrk(path, tok, conns, script=None, args=()):
    cmd = ["wrk", "-t2", f"-c{conns}", f"-d{SECONDS}s", "--latency", "--timeout", "5s",
           "-H", f"Authorization: Bearer {tok}"]
    if script:
        cmd += ["-s", os.path.join(ROOT, "bench", "wrk", script)]
    cmd += [f"http://127.0.0.1:{PORT}{path}"]
    if args:
        cmd += ["--", *map(str, args)]
    out = sh(cmd)
    if "Non-2xx" in out or "Socket errors" in out:
        sys.exit(f"non-2xx responses or socket errors in {path}:\n{out}")
    def lat(p):
        m = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)", out, re.M)
        v, unit = float(m.group(1)), m.group(2)
        return v / 1000 if unit == "us" else v * 1000 if unit == "s" else v
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    return rps, lat(50), lat(99), requests

def pgbench(script, conns, seconds=None):
    path = os.path.join(OUT, f"{script}.sql")
    r = subprocess.run(["pgbench", "-n", "-M", "prepared", f"-c{conns}", "-j2", f"-T{seconds or SECONDS}", "-f", path, URL],
                       text=True, capture_output=True)
    if r.returncode != 0 or "aborted" in r.stderr:
        sys.exit(f"pgbench {script} failed:\n{r.stderr}")
    return float(re.search(r"tps = ([\d.]+)", r.stdout).group(1))

def rss_kib(pid):
    try:
        return int(sh(["ps", "-o", "rss=", "-p", str(pid)]).strip())
    except Exception:
        return 0

def export_case(tok):
    """Every opportunity as one CSV (Accept: text/csv), read to the end: the
    rows per second and how much the server's resident memory grew while
    streaming it (sampled every 20 ms)."""
    import threading
    before = rss_kib(SERVER_PID)
    peak = [before]
    done = threading.Event()
    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], rss_kib(SERVER_PID))
            time.sleep(0.02)
    sampler = threading.Thread(target=sample); sampler.start()
    req = urllib.request.Request(f"http://127.0.0.1:{PORT}/api/v1/opportunities",
                                 headers={"Authorization": f"Bearer {tok}", "Accept": "text/csv"})
    t = time.time(); size = 0; lines = 0
    with urllib.request.urlopen(req, timeout=600) as res:
        while True:
            chunk = res.read(1 << 16)
            if not chunk:
                break
            size += len(chunk); lines += chunk.count(b"\n")
    took = time.time() - t
    done.set(); sampler.join()
    rows = lines - 1
    entry = {"rows": rows, "seconds": round(took, 2), "rows_per_s": round(rows / took),
             "mib": round(size / 2**20, 1), "rss_growth_mib": round((peak[0] - before) / 1024, 1)}
    print(f"  export         {rows} rows in {took:.1f}s ({entry['rows_per_s']} rows/s), "
          f"resident memory +{entry['rss_growth_mib']} MiB", flush=True)
    return entry

def import_case(tok, customer, env, rows=10_000):
    """10,000 opportunities posted as one CSV and run by a `prm worker`
    beside the server: seconds from the POST to the import's `done`."""
    run = int(time.time())
    body = ("topic,customer_id,contact.name,estimated_revenue.amount,estimated_revenue.currency,"
            "expected_close_date,product_lines,external_ref\r\n" +
            "".join(f"Imported {run}-{i},{customer},Jo Park,{1000 + i}.00,EUR,2027-06-30,cloud,IMP-{run}-{i}\r\n"
                    for i in range(rows))).encode()
    worker = subprocess.Popen([PRM, "worker"], env=env, stdout=subprocess.DEVNULL,
                              stderr=open(os.path.join(OUT, "worker.log"), "w"))
    try:
        t = time.time()
        req = urllib.request.Request(f"http://127.0.0.1:{PORT}/api/v1/imports?kind=opportunities", data=body,
                                     headers={"Authorization": f"Bearer {tok}", "Content-Type": "text/csv"})
        with urllib.request.urlopen(req, timeout=60) as res:
            location = res.headers["Location"]
        while True:
            with urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{PORT}{location}",
                                        headers={"Authorization": f"Bearer {tok}"}), timeout=10) as res:
                state = json.loads(res.read())
            if state["status"] in ("done", "failed") or time.time() - t > 600:
                break
            time.sleep(0.2)
        took = time.time() - t
    finally:
        worker.terminate(); worker.wait(timeout=30)
    if state["status"] != "done" or state["created"] != rows:
        sys.exit(f"the import did not create every row: {json.dumps(state)[:2000]}")
    entry = {"rows": rows, "seconds": round(took, 2), "rows_per_s": round(rows / took)}
    print(f"  import         {rows} rows in {took:.1f}s ({entry['rows_per_s']} rows/s)", flush=True)
    return entry

def main():
    os.makedirs(OUT, exist_ok=True)
    print(f"bench: scale {SCALE} ({PARTNERS} partners, {OPPS} opportunities), {SECONDS}s x {ROUNDS} rounds", flush=True)
    env = dict(os.environ, DATABASE_URL=URL, RUST_LOG="warn", PRM_WORKER="false")
    # The seeded dataset is kept as a template database named after what it
    # depends on, so a second run copies it instead of seeding again.
    seed_db = f"prm_bench_{SCALE}_seed_{seed_key()}"
    admin = lambda sql: sh(["psql", f"{SERVER}/postgres", "-qc", sql])
    admin(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")
    have = psql_at(f"{SERVER}/postgres", f"SELECT count(*) FROM pg_database WHERE datname = '{seed_db}'")
    t = time.time()
    if have == "0":
        for old in psql_at(f"{SERVER}/postgres", f"SELECT datname FROM pg_database WHERE datname LIKE 'prm_bench_{SCALE}_seed_%'").split():
            admin(f"DROP DATABASE IF EXISTS {old} WITH (FORCE)")
        admin(f"CREATE DATABASE {DB}")
        subprocess.run([PRM, "migrate"], check=True, env=env, capture_output=True)
        sh(["psql", URL, "-q", "-v", f"partners={PARTNERS}", "-v", f"opps={OPPS}", "-v", "accepts=60000",
            "-f", os.path.join(ROOT, "bench", "seed.sql")])
        # Settle the new data so autovacuum and checkpoints stay out of the timings.
        sh(["psql", URL, "-qc", "VACUUM ANALYZE"])
        admin(f"CREATE DATABASE {seed_db} TEMPLATE {DB} STRATEGY FILE_COPY")
        print(f"bench: seeded in {time.time() - t:.0f}s (kept as {seed_db}; make bench-clean drops it)", flush=True)
    else:
        admin(f"CREATE DATABASE {DB} TEMPLATE {seed_db} STRATEGY FILE_COPY")
        print(f"bench: copied the seeded dataset {seed_db} in {time.time() - t:.0f}s", flush=True)
    sh(["psql", URL, "-qc", "CHECKPOINT"])

    # Ids and literals the cases need.
    with open(os.path.join(OUT, "ids.txt"), "w") as f:
        f.write(psql("SELECT id FROM bench_ids WHERE n % 5 = 0") + "\n")
    with open(os.path.join(OUT, "accept_ids.txt"), "w") as f:
        f.write(psql("SELECT id FROM bench_accept_ids WHERE n <= 30000 ORDER BY n") + "\n")
    org0 = psql("SELECT id FROM orgs WHERE name = 'Bench Partner 00000'")
    scope = psql(f"SELECT string_agg(quote_literal(id::text) || '::uuid', ',') FROM (SELECT '{org0}'::uuid AS id UNION ALL SELECT id FROM orgs WHERE parent_id = '{org0}') s")
    vendor = psql("SELECT id FROM orgs WHERE kind = 'vendor'")
    vcust = psql("SELECT id FROM customers WHERE name = 'Vendor Account 7 Ltd'")
    cm_user = psql("SELECT id FROM users WHERE subject = 'bench-cm'")
    admin_user = psql("SELECT id FROM users WHERE subject = 'bench-p1-admin'")
    org1 = psql("SELECT id FROM orgs WHERE name = 'Bench Partner 00001'")
    live = "'delivered','accepted','won','lost'"
    # The visibility rule as store::listing renders it: three arms, each a
    # condition one index serves, the collaborations gathered once.
    visible = (f"((o.origin = 'partner' AND o.owner_org_id = ANY(ARRAY[{scope}])) OR (o.status IN ({live}) AND "
               f"o.primary_partner_id = ANY(ARRAY[{scope}])) OR (o.status IN ({live}) AND o.id = ANY(ARRAY("
               f"SELECT oc.opportunity_id FROM opportunity_collaborators oc WHERE oc.org_id = ANY(ARRAY[{scope}])))))")
    # What the service reads with every opportunity (store::opportunities::
    # joined_view_columns): the row (o.* includes its collaborator_ids
    # column), the customer's name and holder (for masking), whether a live
    # deal registration exists and the policy's extension limit (for
    # allowed_actions), and the reader's org's own external reference. The
    # database side runs the same, or the ratio would compare the service's
    # statement with a cheaper one.
    cols = ("o.*, c.name, c.org_id, EXISTS (SELECT 1 FROM deal_registrations r WHERE r.opportunity_id = o.id"
            " AND r.status IN ('submitted', 'approved')),"
            " coalesce((SELECT p.max_extensions FROM policies p ORDER BY p.id LIMIT 1), 0),"
            f" (SELECT x.external_ref FROM external_refs x WHERE x.org_id = '{org0}' AND x.kind = 'opportunity'"
            " AND x.resource_id = o.id)")
    # The service's ids are UUIDv7 (time-ordered, so inserts append to the
    # indexes); random v4 ids would make the database's side slower at scale.
    v7 = ("(lpad(to_hex((extract(epoch FROM clock_timestamp()) * 1000)::bigint), 12, '0')"
          " || substr(md5(random()::text), 1, 20))::uuid")
    resellers = psql(f"SELECT string_agg(quote_literal(id::text) || '::uuid', ',') FROM orgs WHERE parent_id = '{org0}'")
    def page_first(where, order):
        # The service's statement for every list (store::listing): the page's
        # ids chosen first, reading nothing else, then only the page read
        # whole.
        return (f"SELECT {cols} FROM opportunities o JOIN customers c ON c.id = o.customer_id WHERE o.id = "
                f"ANY(ARRAY(SELECT o.id FROM opportunities o WHERE {where} ORDER BY {order} LIMIT 51)) ORDER BY {order};")
    def gathered_first(where, order):
        # A partner's list that names no partner and no owner: every match
        # gathered in order, the page the first of them.
        return (f"SELECT {cols} FROM opportunities o JOIN customers c ON c.id = o.customer_id WHERE o.id = "
                f"ANY((ARRAY(SELECT o.id FROM opportunities o WHERE {where} ORDER BY {order}))[1:51]) ORDER BY {order};")
    def search(term, where, masked, pick=page_first):
        # The customers' ids that match, once, probing the customer index
        # beside the topic's trigrams.
        return pick(f"{where} AND (o.topic ILIKE '%{term}%' OR o.customer_id = ANY(ARRAY(SELECT m.id FROM "
                    f"customers m WHERE m.name ILIKE '%{term}%' AND m.org_id <> ALL(ARRAY[{masked}]::uuid[]))))",
                    "o.id DESC")
    close_key = "coalesce(o.expected_close_date, DATE '9999-12-31')"
    scripts = {
        # The statements the service sends for each request (actor lookups
        # are served from the auth cache after the first request).
        "get": ["\\set n random(1, %d)" % OPPS,
                f"SELECT {cols} FROM opportunities o JOIN customers c ON c.id = o.customer_id WHERE o.id = (SELECT id FROM bench_ids WHERE n = :n);"],
        "list": [page_first(f"{visible} AND o.status = 'accepted' AND o.primary_partner_id = '{org0}'", "o.id DESC")],
        # Vendor-wide for a common and a rare term, and a distributor's (its
        # resellers' customer names are masked for it, so not searched).
        "search": [search(TERMS["search"], "TRUE", "")],
        "search_rare": [search(TERMS["search_rare"], "TRUE", "")],
        "search_partner": [search(TERMS["search_partner"], visible, resellers, gathered_first)],
        # A partner's list of one partner's opportunities, latest changes first.
        "list_updated": [page_first(f"{visible} AND o.primary_partner_id = '{org0}'", "o.updated_at DESC, o.id DESC")],
        # The same by expected close date (no date last).
        "list_close_date": [page_first(f"{visible} AND o.primary_partner_id = '{org0}'", f"{close_key} ASC, o.id ASC")],
        "create": ["BEGIN;",
                   f"SELECT * FROM customers WHERE id = '{vcust}';",
                   f"INSERT INTO opportunities (id, topic, customer_id, currency, estimated_revenue, product_lines, origin, status, owner_org_id, owner_user_id, created_by_user_id, country) VALUES ({v7}, 'Benchmark lead', '{vcust}', 'EUR', 12500, ARRAY['cloud'], 'vendor', 'draft', '{vendor}', '{cm_user}', '{cm_user}', 'GB') RETURNING id \\gset",
                   f"INSERT INTO opportunity_events (id, opportunity_id, actor_user_id, actor_org_id, action, to_status) VALUES ({v7}, :id, '{cm_user}', '{vendor}', 'create', 'draft');",
                   f"SELECT {cols} FROM opportunities o JOIN customers c ON c.id = o.customer_id WHERE o.id = :id FOR UPDATE OF o;",
                   f"SELECT id, parent_id FROM orgs WHERE id = '{vendor}';",
                   f"INSERT INTO events (id, type, opportunity_id, audience, data) VALUES ({v7}, 'opportunity.created', :id, '{{}}', '{{}}');",
                   "SELECT count(*) FROM webhooks w JOIN orgs o ON o.id = w.org_id WHERE w.active AND o.kind = 'vendor';",
                   f"SELECT {cols} FROM opportunities o JOIN customers c ON c.id = o.customer_id WHERE o.id = :id;",
                   "COMMIT;"],
        # HTTP consumes offers 1..30000 once each; pgbench re-accepts 30001..60000.
        "accept": ["\\set n random(30001, 60000)",
                   "BEGIN;",
                   "SELECT o.* FROM opportunities o WHERE o.id = (SELECT id FROM bench_accept_ids WHERE n = :n) FOR UPDATE;",
                   "SELECT * FROM orgs WHERE kind = 'vendor';",
                   "SELECT * FROM policies;",
                   f"UPDATE opportunities SET status = 'accepted', owner_org_id = '{org1}', owner_user_id = '{admin_user}', expires_on = current_date + 90, accept_by = NULL, version = version + 1, updated_at = now() WHERE id = (SELECT id FROM bench_accept_ids WHERE n = :n);",
                   "UPDATE opportunities SET reassign_pending = false WHERE id = (SELECT id FROM bench_accept_ids WHERE n = :n);",
                   f"INSERT INTO opportunity_events (id, opportunity_id, actor_user_id, actor_org_id, partner_org_id, action, from_status, to_status) VALUES ({v7}, (SELECT id FROM bench_accept_ids WHERE n = :n), '{admin_user}', '{org1}', '{org1}', 'accept', 'delivered', 'accepted');",
                   f"SELECT {cols} FROM opportunities o JOIN customers c ON c.id = o.customer_id WHERE o.id = (SELECT id FROM bench_accept_ids WHERE n = :n);",
                   "INSERT INTO opportunity_versions (opportunity_id, version, fields) SELECT id, version, ARRAY['status', 'owner_org_id', 'owner_user_id', 'accept_by', 'expires_on'] FROM opportunities WHERE id = (SELECT id FROM bench_accept_ids WHERE n = :n);",
                   "SELECT id, parent_id FROM orgs WHERE id = ANY(ARRAY(SELECT owner_org_id FROM opportunities WHERE id = (SELECT id FROM bench_accept_ids WHERE n = :n)));",
                   f"INSERT INTO events (id, type, opportunity_id, audience, data) VALUES ({v7}, 'opportunity.accepted', (SELECT id FROM bench_accept_ids WHERE n = :n), ARRAY['{org1}'::uuid], '{{}}');",
                   "SELECT count(*) FROM webhooks w JOIN orgs o ON o.id = w.org_id WHERE w.active;",
                   "COMMIT;"],
        # partner_summary (counts and offers' value), Registration::count_by_status.
        "dashboard": [f"""WITH mine AS (SELECT o.status, o.accept_by, o.pipeline_phase, o.expires_on, o.closed_at, o.currency, o.estimated_revenue FROM opportunities o WHERE o.primary_partner_id = '{org0}' AND (o.status IN ({live}) OR (o.origin = 'partner' AND o.owner_org_id = ANY(ARRAY[{scope}]))) AND (NULL::uuid IS NULL OR o.owner_user_id = NULL::uuid)), offered AS (SELECT currency, sum(estimated_revenue) AS value FROM mine WHERE status = 'delivered' AND currency IS NOT NULL GROUP BY currency) SELECT count(*) FILTER (WHERE status = 'delivered'), min(accept_by) FILTER (WHERE status = 'delivered'), count(*) FILTER (WHERE status = 'accepted'), count(*) FILTER (WHERE status = 'accepted' AND pipeline_phase = 'qualify'), count(*) FILTER (WHERE status = 'accepted' AND pipeline_phase = 'develop'), count(*) FILTER (WHERE status = 'accepted' AND pipeline_phase = 'propose'), count(*) FILTER (WHERE status = 'accepted' AND pipeline_phase = 'negotiate'), count(*) FILTER (WHERE status = 'accepted' AND pipeline_phase = 'commit'), (SELECT count(*) FROM opportunity_collaborators oc JOIN opportunities o ON o.id = oc.opportunity_id WHERE oc.org_id = '{org0}' AND o.status = 'accepted' AND (NULL::uuid IS NULL OR o.owner_user_id = NULL::uuid)), count(*) FILTER (WHERE status = 'accepted' AND expires_on <= current_date + 14), count(*) FILTER (WHERE status = 'won' AND closed_at >= now() - interval '90 days'), count(*) FILTER (WHERE status = 'lost' AND closed_at >= now() - interval '90 days'), ARRAY(SELECT currency FROM offered ORDER BY currency), ARRAY(SELECT value FROM offered ORDER BY currency) FROM mine;""",
                      f"SELECT status, count(*) FROM deal_registrations WHERE org_id = ANY(ARRAY[{scope}]) GROUP BY status;"],
    }
    for name, lines in scripts.items():
        with open(os.path.join(OUT, f"{name}.sql"), "w") as f:
            f.write("\n".join(lines) + "\n")

    for name in scripts:
        if CASES and name not in CASES:
            continue
        pgbench(name, 1, seconds=1)  # every script runs cleanly before timing
    global PORT
    PORT = free_port()
    server = subprocess.Popen([PRM, "serve"], env=dict(env, PRM_LISTEN=f"127.0.0.1:{PORT}"),
                              stdout=subprocess.DEVNULL, stderr=open(os.path.join(OUT, "server.log"), "w"))
    global SERVER_PID
    SERVER_PID = server.pid
    # A failed case exits the run; the server must not outlive it.
    import atexit
    atexit.register(lambda: server.poll() is None and server.kill())
    for _ in range(200):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{PORT}/readyz", timeout=1); break
        except Exception:
            time.sleep(0.05)
    cm, admin, acceptor = token("bench-cm"), token("bench-p0-admin"), token("bench-p1-admin")
    ids, accepts = os.path.join(OUT, "ids.txt"), os.path.join(OUT, "accept_ids.txt")
    accepted_so_far = 0
    auth = []

    def auth_metrics():
        text = urllib.request.urlopen(f"http://127.0.0.1:{PORT}/metrics", timeout=5).read().decode()
        value = lambda k: float(re.search(rf"^{k} ([\d.e+-]+)$", text, re.M).group(1))
        return value("prm_auth_duration_seconds_sum"), value("prm_auth_duration_seconds_count")

    # The accept case's offers: pool n 1..30000 of bench_accept_ids, then
    # any added past the 60000 the seed made (pgbench re-accepts 30001..60000).
    pool = 30000
    def reoffer(used):
        psql(f"""UPDATE opportunities SET status = 'delivered', owner_org_id = '{vendor}',
                 owner_user_id = '{cm_user}', accept_by = now() + interval '3 days', expires_on = NULL,
                 version = version + 1, updated_at = now()
                 WHERE id IN (SELECT id FROM bench_accept_ids WHERE n <= 30000 OR n > 60000 ORDER BY n LIMIT {used})
                   AND status <> 'delivered'""")
    def grow_pool(size):
        have = int(psql("SELECT count(*) FROM bench_accept_ids WHERE n <= 30000 OR n > 60000"))
        if size > have:
            psql(f"""WITH added AS (
                       INSERT INTO bench_accept_ids SELECT 60001 + i, md5('acc' || (60000 + i))::uuid
                       FROM generate_series({have - 30000}, {size - 30000 - 1}) i RETURNING id)
                     INSERT INTO opportunities (id, topic, customer_id, currency, estimated_revenue, country,
                         industry, product_lines, origin, status, owner_org_id, owner_user_id,
                         primary_partner_id, accept_by, created_by_user_id)
                     SELECT id, 'Offer to accept', '{vcust}', 'EUR', 5000, 'DE', 'retail', ARRAY['cloud'],
                            'vendor', 'delivered', '{vendor}', '{cm_user}', '{org1}',
                            now() + interval '3 days', '{cm_user}' FROM added""")
            with open(accepts, "w") as f:
                f.write(psql("SELECT id FROM bench_accept_ids WHERE n <= 30000 OR n > 60000 ORDER BY n") + "\n")
        print(f"  accept: the offers' pool grows to {max(size, have)}", flush=True)
        return max(size, have)

    def case_http(name, conns):
        nonlocal accepted_so_far
        if name == "healthz":
            return wrk("/healthz", cm, conns)
        if name == "get":
            before = auth_metrics()
            r = wrk("/", cm, conns, "ids.lua", [ids])
            after = auth_metrics()
            if conns == 16:
                # Time spent authenticating, as a share of the machine's CPU
                # over the run: what the same run would gain without it.
                spent, count = after[0] - before[0], after[1] - before[1]
                auth.append((spent / (SECONDS * (os.cpu_count() or 1)), spent / max(count, 1) * 1e6))
            return r
        if name == "list":
            return wrk("/api/v1/opportunities?view=managed&limit=50", admin, conns)
        if name in TERMS:
            who = admin if name == "search_partner" else cm
            return wrk(f"/api/v1/opportunities?q={urllib.parse.quote(TERMS[name])}&limit=50", who, conns)
        if name == "list_updated":
            return wrk(f"/api/v1/opportunities?partner_id={org0}&sort=-updated_at&limit=50", admin, conns)
        if name == "list_close_date":
            return wrk(f"/api/v1/opportunities?partner_id={org0}&sort=expected_close_date&limit=50", admin, conns)
        if name == "create":
            return wrk("/", cm, conns, "create.lua", [vcust])
        if name == "accept":
            # Each round accepts offers from the start of the pool; what the
            # last round accepted is offered again first, and a pool that
            # the last round used more than half of is doubled, so no
            # machine is fast enough to run the case dry.
            nonlocal pool
            if accepted_so_far:
                reoffer(min(accepted_so_far, pool))
            if 2 * accepted_so_far > pool:
                pool = grow_pool(2 * accepted_so_far)
            r = wrk("/", acceptor, conns, "accept.lua", [accepts, 2, 0])
            # Threads may not take equal shares: count past anything used.
            accepted_so_far = 2 * r[3] + 4 * conns
            return r
        if name == "dashboard":
            return wrk("/api/v1/dashboard", admin, conns)

    cases = [("healthz", 16), ("get", 16), ("list", 16), ("list_updated", 16), ("list_close_date", 16), ("search", 16), ("search_rare", 16), ("search_partner", 16), ("create", 16), ("accept", 16), ("dashboard", 16), ("get", 64), ("list", 64)]
    if CASES:  # BENCH_CASES=get,list runs only those (for profiling; the report then holds only them)
        cases = [c for c in cases if c[0] in CASES]
    results = {}
    peak_rss = 0
    # Warm caches and connections once.
    for name in ("get", "list"):
        if not CASES or name in CASES:
            case_http(name, 16)
    for r in range(ROUNDS):
        for name, conns in cases:
            key = name if conns == 16 else f"{name}_c{conns}"
            rps, p50, p99, _ = case_http(name, conns)
            peak_rss = max(peak_rss, rss_kib(server.pid))
            db = pgbench(name, conns) if name != "healthz" else None
            results.setdefault(key, []).append((rps, p50, p99, db))
            print(f"  round {r + 1} {key:14s} http {rps:9.0f} rps  p50 {p50:6.2f} ms  p99 {p99:6.2f} ms" +
                  (f"   db {db:9.0f} tps  ratio {rps / db:.2f}" if db else ""), flush=True)
    bulk = {}
    if not CASES or "export" in CASES:
        bulk["export"] = export_case(cm)
    if not CASES or "import" in CASES:
        bulk["import"] = import_case(cm, vcust, env)
    server.terminate(); server.wait(timeout=30)

    report = {}
    for key, rows in results.items():
        med = lambda i: statistics.median(x[i] for x in rows)
        entry = {"rps": round(med(0), 1), "p50_ms": round(med(1), 3), "p99_ms": round(med(2), 3)}
        if rows[0][3] is not None:
            entry["db_rps"] = round(med(3), 1)
            # Each round's ratio comes from two runs side by side; their
            # median keeps one round's drift out of the other rounds' figures.
            entry["ratio"] = round(statistics.median(x[0] / x[3] for x in rows), 3)
        report[key] = entry
    if auth and "get" in report:
        report["get"]["auth_share"] = round(statistics.median(a[0] for a in auth), 4)
        report["get"]["auth_us"] = round(statistics.median(a[1] for a in auth), 2)
    report.update(bulk)
    report["_meta"] = {"scale": SCALE, "partners": PARTNERS, "opportunities": OPPS, "seconds": SECONDS,
                       "rounds": ROUNDS, "peak_rss_mib": round(peak_rss / 1024, 1), "cores": os.cpu_count()}
    path = os.path.join(OUT, "report.json" if SCALE == "100k" else f"report-{SCALE}.json")
    with open(path, "w") as f:
        json.dump(report, f, indent=2)
    # The plans behind the read cases at this scale, for docs/performance.md.
    with open(os.path.join(OUT, f"plans-{SCALE}.txt"), "w") as f:
        for name in ("get", "list", "list_updated", "list_close_date", "search", "search_rare", "search_partner", "dashboard"):
            first = [l for l in scripts[name] if l.startswith(("SELECT", "WITH"))][0].rstrip(";")
            first = first.replace(":n", "1")
            f.write(f"== {name}\n" + sh(["psql", URL, "-Atc", f"EXPLAIN (ANALYZE, BUFFERS OFF, TIMING OFF, SUMMARY ON) {first}"]) + "\n")
    sh(["psql", f"{SERVER}/postgres", "-qc", f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)"])
    summary = ", ".join(f"{k} {v['ratio']:.2f}" for k, v in report.items() if "ratio" in v)
    if "auth_share" in report.get("get", {}):
        summary += f"; auth {100 * report['get']['auth_share']:.1f}% of get"
    if "import" in report:
        summary += f"; import {report['import']['rows']} rows in {report['import']['seconds']} s"
    if "export" in report:
        summary += (f"; export {report['export']['rows']} rows in {report['export']['seconds']} s"
                    f" (+{report['export']['rss_growth_mib']} MiB)")
    print(f"bench {SCALE}: ratio to raw database (rps/db_rps): {summary}; peak RSS {report['_meta']['peak_rss_mib']} MiB; report {os.path.relpath(path, ROOT)}")

if __name__ == "__main__":
    main()
