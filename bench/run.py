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
# vendor-wide a common and a rare one, and a distributor's common and rare
# (two of the rows its admin may see hold `fabrikam 0-12` at 1M, three at
# 100k; a partner's search tests each row it may see, whichever the term).
TERMS = {"search": "fabrikam 1", "search_rare": "fabrikam 12-3", "search_partner": "fabrikam",
         "search_partner_rare": "fabrikam 0-12"}
PARTNER_SEARCHES = ("search_partner", "search_partner_rare")
# Both the service and pgbench reach Postgres over loopback without TLS:
# libpq's default (sslmode=prefer) encrypts even 127.0.0.1, which cost the
# list about 14 % of its throughput and helps neither side's figures.
URL = f"{SERVER}/{DB}?sslmode=disable"
# The peer (bench/peer: Fastify + pg over the same tables, with the same SQL
# per request) runs beside prm unless BENCH_PEER=0.
PEER = os.environ.get("BENCH_PEER", "1") != "0"
# The cases whose target is ≥ 2× the peer's requests per service CPU-second.
READS = ("get", "list", "list_updated", "list_close_date", "search", "search_rare", "search_partner", "search_partner_rare",
         "dashboard", "get_c64", "list_c64")
# Both servers verify the bench's tokens with this HS256 secret (prm's own
# from the environment, if one is set there).
JWT_SECRET = os.environ.get("PRM_JWT_SECRET") or "prm-bench-loopback-only-hs256-secret-0001"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

# The statements the service sends per request, each defined once with named
# parameters (`:name`; `::type` stays a cast). Two things are written from
# them: the pgbench scripts of the database side (`ratio`), each parameter
# rendered as the SQL text the case gives it (a literal, or a sub-select that
# picks a random row by pgbench's `:n`); and target/bench/peer-sql.json for
# the peer (bench/peer), each parameter numbered $1.. and bound, each
# statement prepared under its name.
PARAM = re.compile(r"(?<![:\w]):([a-z_]+)")
LIVE = "'delivered','accepted','won','lost'"
# What a partner's org scope (its own org and, for a distributor, its
# resellers) may see: the service's visibility rule.
# The caller's orgs reach the statement as a sub-select, as the service
# sends them (store::listing::IsOneOf: one plan for every caller), and the
# origin and live statuses as constants.
SCOPE = "ANY((SELECT :scope::uuid[])::uuid[])"
# Its three arms (store::listing::partner_arms): what its orgs brought in,
# the live offers to them, their collaborations.
ARMS = ["o.origin = 'partner' AND o.owner_org_id = " + SCOPE,
        "o.status IN (" + LIVE + ") AND o.primary_partner_id = " + SCOPE,
        "o.status IN (" + LIVE + ") AND o.id = ANY(ARRAY("
        "SELECT oc.opportunity_id FROM opportunity_collaborators oc WHERE oc.org_id = " + SCOPE + "))"]
VISIBLE = "(" + " OR ".join(f"({arm})" for arm in ARMS) + ")"
# What the service reads with every opportunity (store::opportunities::
# view_columns_for): the row (o.* includes its collaborator_ids column, and
# its copies of the customer's name and holder, for masking), whether a live deal
# registration exists and the policy's extension limit (for
# allowed_actions), and the reader's org's own external reference. The
# database side runs the same, or the ratio would compare the service's
# statement with a cheaper one.
COLS = ("o.*, EXISTS (SELECT 1 FROM deal_registrations r"
        " WHERE r.opportunity_id = o.id AND r.status IN ('submitted', 'approved')) AS registered,"
        " coalesce((SELECT p.max_extensions FROM policies p ORDER BY p.id LIMIT 1), 0) AS max_extensions,"
        " (SELECT x.external_ref FROM external_refs x WHERE x.org_id = :org AND x.kind = 'opportunity'"
        " AND x.resource_id = o.id) AS external_ref")
VIEW = f"SELECT {COLS} FROM opportunities o"
# The service's ids are UUIDv7 (time-ordered, so inserts append to the
# indexes); random v4 ids would make the database's side slower at scale.
V7 = ("(lpad(to_hex((extract(epoch FROM clock_timestamp()) * 1000)::bigint), 12, '0')"
      " || substr(md5(random()::text), 1, 20))::uuid")

# What an insert returns and a lock reads (store::opportunities::
# view_columns_for): the same, written for a statement on opportunities
# unaliased.
CORRELATED = ("EXISTS (SELECT 1 FROM deal_registrations r WHERE r.opportunity_id = opportunities.id"
              " AND r.status IN ('submitted', 'approved')) AS registered,"
              " coalesce((SELECT p.max_extensions FROM policies p ORDER BY p.id LIMIT 1), 0) AS max_extensions,"
              " (SELECT x.external_ref FROM external_refs x WHERE x.org_id = :org AND x.kind = 'opportunity'"
              " AND x.resource_id = opportunities.id) AS external_ref")
RETURNED = f"opportunities.*, {CORRELATED}"
# The lock reads for no one (no reader's reference).
LOCKED = RETURNED.replace(":org", "'00000000-0000-0000-0000-000000000000'::uuid")

def journal(status_event, version, event):
    # store::journal::Journal::write: each part a JSON array of rows (built
    # here from the case's values), written with the webhook fan-out in one
    # statement.
    se = ("jsonb_build_array(jsonb_build_object('id', {v7}, 'opportunity_id', a, 'actor_user_id', b,"
          " 'actor_org_id', c, 'partner_org_id', d, 'action', e, 'from_status', f, 'to_status', g,"
          " 'reason', NULL, 'changes', '[]'::jsonb, 'reason_code', NULL))"
          " FROM (SELECT {row}) AS s(a, b, c, d, e, f, g)").format(v7=V7, row=status_event)
    ver = ("'[]'::jsonb" if version is None else
           f"jsonb_build_array(jsonb_build_object('opportunity_id', :id::uuid, 'version',"
           f" (SELECT version FROM opportunities WHERE id = :id::uuid), 'fields', {version}))")
    ev = ("jsonb_build_array(jsonb_build_object('id', {v7}, 'type', t, 'opportunity_id', i, 'audience', a,"
          " 'with_distributors', true, 'data', '{{}}'::jsonb)) FROM (SELECT {row}) AS e(t, i, a)").format(v7=V7, row=event)
    return ("WITH status_events AS (INSERT INTO opportunity_events (id, opportunity_id, actor_user_id, actor_org_id,"
            " partner_org_id, action, from_status, to_status, reason, changes, reason_code)"
            " SELECT r.id, r.opportunity_id, r.actor_user_id, r.actor_org_id, r.partner_org_id, r.action,"
            " r.from_status, r.to_status, r.reason, r.changes, r.reason_code"
            f" FROM jsonb_to_recordset((SELECT {se})) AS r(id uuid, opportunity_id uuid, actor_user_id uuid,"
            " actor_org_id uuid, partner_org_id uuid, action text, from_status text, to_status text, reason text,"
            " changes jsonb, reason_code text)),"
            " versions AS (INSERT INTO opportunity_versions (opportunity_id, version, fields)"
            f" SELECT r.opportunity_id, r.version, r.fields FROM jsonb_to_recordset(({ver}))"
            " AS r(opportunity_id uuid, version int, fields text[])),"
            " written AS (INSERT INTO events (id, type, opportunity_id, audience, data)"
            " SELECT r.id, r.type, r.opportunity_id, CASE WHEN r.with_distributors THEN ARRAY(SELECT DISTINCT a"
            " FROM unnest(r.audience || ARRAY(SELECT g.parent_id FROM orgs g WHERE g.id = ANY(r.audience)"
            " AND g.parent_id IS NOT NULL)) AS a) ELSE r.audience END, r.data"
            f" FROM jsonb_to_recordset((SELECT {ev})) AS r(id uuid, type text, opportunity_id uuid,"
            " audience uuid[], with_distributors boolean, data jsonb) RETURNING id, type, audience)"
            " INSERT INTO webhook_deliveries (id, webhook_id, event_id) SELECT gen_random_uuid(), w.id, e.id"
            " FROM written e JOIN webhooks w ON w.active AND (cardinality(w.event_types) = 0 OR e.type ="
            " ANY(w.event_types)) JOIN orgs o ON o.id = w.org_id AND o.active"
            " WHERE o.kind = 'vendor' OR w.org_id = ANY(e.audience)")

def page_first(where, order):
    # The service's statement for every list (store::listing): the page's
    # ids chosen first, reading nothing else, then only the page read whole.
    return (f"{VIEW} WHERE o.id = ANY(ARRAY(SELECT o.id FROM opportunities o WHERE {where} ORDER BY {order}"
            f" LIMIT :limit)) ORDER BY {order}")

def gathered_first(where, order):
    # A partner's list that names no partner and no owner: every match
    # gathered in order, the page the first of them.
    return (f"{VIEW} WHERE o.id = ANY((ARRAY(SELECT o.id FROM opportunities o WHERE {where} ORDER BY {order}))"
            f"[1:(:limit)]) ORDER BY {order}")

# store::listing::SEARCH_WALK_FIRST and SEARCH_WALK_BUDGET.
WALK_FIRST, WALK_BUDGET = 250, 5000

def search_walked():
    # A vendor's search in creation order (store::listing::WalkOrGather):
    # walk in order the rows holding the term's mark (migration
    # search_marks) where it has one, else every row, from an index holding
    # each one's search_text: 250 entries first, for the page; if they
    # held enough matches that half the page is in reach within 5,000
    # entries, on from the last match for 4,750 more. A stretch that
    # reaches the end of its rows ends in a NULL: its matches are all there
    # are. Gather every match through the indexes of three-character
    # windows (migration search_grams; the customers' side index-only, a
    # union with the topic's), in order, only when the walk comes back
    # short. The term
    # reaches each condition as a sub-select, as the service sends it (so
    # one plan serves every term, and Postgres keeps it).
    def holds(text):
        return (f"(search_grams(lower({text})) @> (SELECT search_term_grams(lower(:term))) AND {text} ILIKE"
                " (SELECT :pattern::text))")
    gather = (f"(ARRAY(SELECT u.id FROM (SELECT g.id FROM opportunities g WHERE {holds('g.topic')} UNION"
              f" SELECT g.id FROM opportunities g WHERE g.customer_id = ANY(ARRAY(SELECT m.id FROM customers m"
              f" WHERE {holds('m.name')}))) u ORDER BY u.id DESC))[1:(:limit)]")
    mark = "(SELECT search_walk_mark(lower(:term)))"
    def walk(past, entries, wanted=":limit"):
        marked = past.format(id="s.opportunity_id")
        every = past.format(id="s.id")
        return (f"ARRAY(SELECT x.id FROM (SELECT y.id, y.search_text FROM ((SELECT s.opportunity_id AS id, s.search_text"
                f" FROM opportunity_marks s WHERE s.mark = {mark}{marked} ORDER BY s.opportunity_id DESC LIMIT {entries})"
                f" UNION ALL (SELECT s.id, s.search_text FROM opportunities s WHERE {mark} IS NULL{every}"
                f" ORDER BY s.id DESC LIMIT {entries}) UNION ALL SELECT NULL, NULL) y LIMIT {entries}) x"
                f" WHERE x.id IS NULL OR strpos(x.search_text, (SELECT lower(:term))) > 0 LIMIT {wanted})")
    done = "cardinality({a}) >= :limit OR array_position({a}, NULL) IS NOT NULL"
    return (f"{VIEW} WHERE o.id = ANY((SELECT CASE WHEN {done.format(a='w.a')} THEN w.a"
            f" WHEN cardinality(w.a) * {2 * WALK_BUDGET} < :limit * {WALK_FIRST} THEN {gather}"
            f" ELSE (SELECT CASE WHEN {done.format(a='v.b')} THEN v.b[1:(:limit)] ELSE {gather} END"
            f" FROM (SELECT w.a || {walk(' AND {id} < w.a[cardinality(w.a)]', WALK_BUDGET - WALK_FIRST, ':limit - cardinality(w.a)')} AS b OFFSET 0) v)"
            f" END FROM (SELECT {walk('', WALK_FIRST)} AS a OFFSET 0) w)::uuid[]) ORDER BY o.id DESC")

def search_rows(where):
    # A partner's search (store::listing::SeenHolding, then row_match): the
    # candidates first, from each arm of the visibility (ARMS, each in a
    # sub-select whose `o` is its own rows) where its index entries hold the
    # term (migration partner_search_covering), then each candidate tested
    # by the whole predicate; where a reseller's customer name is masked for
    # it, only the topic may hold the term.
    seen = ("o.id = ANY(ARRAY(" + " UNION ALL ".join(
        f"SELECT o.id FROM opportunities o WHERE ({arm}) AND strpos(o.search_text, (SELECT lower(:term))) > 0"
        for arm in ARMS) + "))")
    return gathered_first(f"{seen} AND {where} AND strpos(o.search_text, (SELECT lower(:term))) > 0 AND (strpos(lower(o.topic),"
                          " (SELECT lower(:term))) > 0 OR NOT o.customer_org_id = ANY((SELECT :masked::uuid[])::uuid[]))",
                          "o.id DESC")

CLOSE_KEY = "coalesce(o.expected_close_date, DATE '9999-12-31')"

SQL = {
    # The actor behind a token's subject, and a distributor's resellers
    # (store::actors::load_actor). The service keeps both 5 s per subject
    # (PRM_AUTH_CACHE_MS), and so does the peer; the database side runs
    # neither, as nearly every request is served from the cache.
    "actor": ("SELECT u.id, u.role, u.active, o.id AS org_id, o.kind, o.active AS org_active"
              " FROM users u JOIN orgs o ON o.id = u.org_id WHERE u.subject = :subject"),
    "resellers": "SELECT id FROM orgs WHERE parent_id = :org ORDER BY id",
    # One opportunity by id (get, and the view a write answers with).
    "opportunity": f"{VIEW} WHERE o.id = :id",
    # view=managed: accepted with the reader's org as primary partner.
    "list_managed": page_first(f"{VISIBLE} AND o.status = 'accepted' AND o.primary_partner_id = :org", "o.id DESC"),
    # q= over topic and customer name: vendor-wide, and a partner's.
    "search_vendor": search_walked(),
    "search_partner": search_rows(VISIBLE),
    # partner_id=&sort=-updated_at: one partner's, latest changes first.
    "list_updated": page_first(f"{VISIBLE} AND o.primary_partner_id = (SELECT :partner::uuid)", "o.updated_at DESC, o.id DESC"),
    # partner_id=&sort=expected_close_date: the same by close date (none last).
    "list_close_date": page_first(f"{VISIBLE} AND o.primary_partner_id = (SELECT :partner::uuid)", f"{CLOSE_KEY} ASC, o.id ASC"),
    # create: customer look-up, the insert returning the view, and the
    # journal (status event, outbox event with its audience's distributors,
    # webhook fan-out) in one statement.
    "customer": "SELECT * FROM customers WHERE id = :customer_id",
    "create_insert": ("INSERT INTO opportunities (id, topic, customer_id, currency, estimated_revenue, product_lines,"
                      " origin, status, owner_org_id, owner_user_id, created_by_user_id, country)"
                      f" VALUES ({V7}, :topic, :customer_id, :currency, :amount, :product_lines, :origin, 'draft',"
                      f" :org, :user, :user, :country) RETURNING {RETURNED}"),
    "journal_created": journal(
        status_event=":id::uuid, :user::uuid, :org::uuid, NULL::uuid, 'create', NULL::text, 'draft'",
        version=None, event="'opportunity.created', :id::uuid, ARRAY[]::uuid[]"),
    # accept: the view locked, the policy with the vendor's id, the update
    # (re-assignment state in it) returning the view, and the journal
    # (status event, version, outbox event, fan-out) in one statement.
    "accept_lock": f"SELECT {LOCKED} FROM opportunities WHERE id = :id FOR UPDATE",
    "policy_vendor": "SELECT p.*, (SELECT o.id FROM orgs o WHERE o.kind = 'vendor' LIMIT 1) AS vendor_org_id FROM policies p LIMIT 1",
    "accept_update": ("UPDATE opportunities SET status = 'accepted', owner_org_id = :org, owner_user_id = :user,"
                      " expires_on = current_date + :validity_days::int, accept_by = NULL, reassign_pending = false,"
                      " version = version + 1, updated_at = now() WHERE id = :id"
                      f" RETURNING {RETURNED}"),
    "journal_accepted": journal(
        status_event=":id::uuid, :user::uuid, :org::uuid, :org::uuid, 'accept', 'delivered', 'accepted'",
        version="ARRAY['status', 'owner_org_id', 'owner_user_id', 'accept_by', 'expires_on']",
        event="'opportunity.accepted', :id::uuid, ARRAY[:org::uuid]"),
    # dashboard: partner_summary (counts, deadlines, offers' value by
    # currency and the org scope's deal registrations by status) as one
    # statement, the caller's org, scope and user as sub-selects as the
    # service sends them.
    "dashboard_summary": (
        "WITH mine AS (SELECT o.status, o.accept_by, o.pipeline_phase, o.expires_on, o.closed_at, o.currency,"
        " o.estimated_revenue FROM opportunities o WHERE o.primary_partner_id = (SELECT :org::uuid) AND (o.status IN ("
        + LIVE + ") OR (o.origin = 'partner' AND o.owner_org_id = ANY((SELECT :scope::uuid[])::uuid[])))"
        " AND ((SELECT :owner::uuid) IS NULL OR o.owner_user_id = (SELECT :owner::uuid))), offered AS (SELECT currency, sum(estimated_revenue) AS value FROM mine"
        " WHERE status = 'delivered' AND currency IS NOT NULL GROUP BY currency),"
        " regs AS (SELECT r.status, count(*) AS n FROM deal_registrations r"
        " WHERE r.org_id = ANY((SELECT :scope::uuid[])::uuid[]) GROUP BY r.status)"
        " SELECT count(*) FILTER (WHERE status = 'delivered') AS distributed,"
        " min(accept_by) FILTER (WHERE status = 'delivered') AS next_deadline,"
        " count(*) FILTER (WHERE status = 'accepted') AS managed,"
        " count(*) FILTER (WHERE status = 'accepted' AND pipeline_phase = 'qualify') AS qualify,"
        " count(*) FILTER (WHERE status = 'accepted' AND pipeline_phase = 'develop') AS develop,"
        " count(*) FILTER (WHERE status = 'accepted' AND pipeline_phase = 'propose') AS propose,"
        " count(*) FILTER (WHERE status = 'accepted' AND pipeline_phase = 'negotiate') AS negotiate,"
        " count(*) FILTER (WHERE status = 'accepted' AND pipeline_phase = 'commit') AS commit,"
        " (SELECT count(*) FROM opportunity_collaborators oc JOIN opportunities o ON o.id = oc.opportunity_id"
        " WHERE oc.org_id = (SELECT :org::uuid) AND o.status = 'accepted' AND ((SELECT :owner::uuid) IS NULL OR"
        " o.owner_user_id = (SELECT :owner::uuid))) AS collaborating,"
        " count(*) FILTER (WHERE status = 'accepted' AND expires_on <= current_date + 14) AS expiring,"
        " count(*) FILTER (WHERE status = 'won' AND closed_at >= now() - interval '90 days') AS won,"
        " count(*) FILTER (WHERE status = 'lost' AND closed_at >= now() - interval '90 days') AS lost,"
        " ARRAY(SELECT currency FROM offered ORDER BY currency) AS offer_currencies,"
        " ARRAY(SELECT value FROM offered ORDER BY currency) AS offer_values,"
        " ARRAY(SELECT status FROM regs ORDER BY status) AS registration_statuses,"
        " ARRAY(SELECT n FROM regs ORDER BY status) AS registration_counts FROM mine"),
}

def numbered(sql):
    """The statement as the peer prepares it: each named parameter as $n, in
    order of first use, and the names in that order."""
    names = []
    def sub(m):
        if m.group(1) not in names:
            names.append(m.group(1))
        return f"${names.index(m.group(1)) + 1}"
    return PARAM.sub(sub, sql), names

def rendered(sql, values):
    """The statement as pgbench runs it: each named parameter replaced by the
    SQL text `values` gives it."""
    def sub(m):
        if m.group(1) not in values:
            sys.exit(f"bench: no value for :{m.group(1)} in {sql[:80]}…")
        return values[m.group(1)]
    return PARAM.sub(sub, sql)

def lit(s):
    return "'" + str(s).replace("'", "''") + "'"

def uuids(ids):
    return "ARRAY[" + ",".join(f"{lit(i)}::uuid" for i in ids) + "]"

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

def token(subject, env):
    return sh([PRM, "token", "--subject", subject, "--ttl-hours", "2"], env=env).strip()

class Service:
    """A server under load: its name in the report, loopback port and process."""
    def __init__(self, name, port, pid):
        self.name, self.port, self.pid = name, port, pid

def wait_ready(port, proc):
    for _ in range(200):
        if proc.poll() is not None:
            sys.exit(f"bench: the server on port {port} exited ({proc.returncode}); see target/bench/*.log")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1); return
        except Exception:
            time.sleep(0.05)
    sys.exit(f"bench: the server on port {port} did not become ready")

def cpu_seconds(pid):
    """User and system CPU time of a process, all its threads, and its
    children that it waited for: fields 14-17 of /proc/<pid>/stat (utime,
    stime, cutime, cstime), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()  # from field 3 on (the name may hold spaces)
    return sum(int(v) for v in fields[11:15]) / CLOCK_TICKS

def per_cpu(run):
    """Requests per second of the service's own CPU over one wrk run."""
    _, _, _, requests, cpu = run
    return requests / max(cpu, 1 / CLOCK_TICKS)

def wrk(svc, path, tok, conns, script=None, args=(), seconds=None):
    cmd = ["wrk", "-t2", f"-c{conns}", f"-d{seconds or SECONDS}s", "--latency", "--timeout", "5s",
           "-H", f"Authorization: Bearer {tok}"]
    if script:
        cmd += ["-s", os.path.join(ROOT, "bench", "wrk", script)]
    cmd += [f"http://127.0.0.1:{svc.port}{path}"]
    if args:
        cmd += ["--", *map(str, args)]
    cpu = cpu_seconds(svc.pid)
    out = sh(cmd)
    cpu = cpu_seconds(svc.pid) - cpu
    if "Non-2xx" in out or "Socket errors" in out:
        sys.exit(f"non-2xx responses or socket errors in {path} ({svc.name}):\n{out}")
    def lat(p):
        m = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)", out, re.M)
        v, unit = float(m.group(1)), m.group(2)
        return v / 1000 if unit == "us" else v * 1000 if unit == "s" else v
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    return rps, lat(50), lat(99), requests, cpu

def pgbench(script, conns, seconds=None):
    """The database's own rate for the case's statements, and its p99 in ms:
    the floor under the service's p99 on this machine in this minute (a
    round where the database alone is slower than 10 ms at its p99 says more
    about the machine than about the service)."""
    path = os.path.join(OUT, f"{script}.sql")
    # -l logs each transaction's latency (µs, the third field) to one file
    # per pgbench thread: <prefix>.<pid>[.<thread>].
    prefix = f"pgbench-log-{script}."
    logs = lambda: [os.path.join(OUT, n) for n in os.listdir(OUT) if n.startswith(prefix)]
    for old in logs():
        os.remove(old)
    r = subprocess.run(["pgbench", "-n", "-M", "prepared", f"-c{conns}", "-j2", f"-T{seconds or SECONDS}",
                        "-l", f"--log-prefix={os.path.join(OUT, prefix[:-1])}", "-f", path, URL],
                       text=True, capture_output=True)
    if r.returncode != 0 or "aborted" in r.stderr:
        sys.exit(f"pgbench {script} failed:\n{r.stderr}")
    latencies = []
    for log in logs():
        with open(log) as f:
            latencies += [int(line.split()[2]) for line in f if line.strip()]
        os.remove(log)
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] / 1000 if latencies else float("nan")
    return float(re.search(r"tps = ([\d.]+)", r.stdout).group(1)), p99

def rss_kib(pid):
    try:
        return int(sh(["ps", "-o", "rss=", "-p", str(pid)]).strip())
    except Exception:
        return 0

def peer_ready():
    """The peer needs Node 20 or later and its pinned packages (make bench
    runs `npm ci` in bench/peer when its lockfile changes)."""
    try:
        major = int(sh(["node", "--version"]).strip().lstrip("v").split(".")[0])
    except (OSError, subprocess.CalledProcessError, ValueError):
        major = 0
    if major < 20:
        sys.exit("bench: the peer needs Node.js 20 or later (`node`); BENCH_PEER=0 runs without it")
    if not os.path.isdir(os.path.join(ROOT, "bench", "peer", "node_modules", "fastify")):
        sys.exit("bench: the peer's packages are not installed: run `make bench`, or "
                 "`npm ci` in bench/peer; BENCH_PEER=0 runs without the peer")

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
    env = dict(os.environ, DATABASE_URL=URL, RUST_LOG="warn", PRM_WORKER="false", PRM_JWT_SECRET=JWT_SECRET)
    env.pop("PRM_JWT_PUBLIC_KEY_FILE", None)  # the bench signs its own HS256 tokens
    if PEER:
        peer_ready()
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
    resellers = psql(f"SELECT id FROM orgs WHERE parent_id = '{org0}' ORDER BY id").split()
    scope = [org0, *resellers]
    vendor = psql("SELECT id FROM orgs WHERE kind = 'vendor'")
    vcust = psql("SELECT id FROM customers WHERE name = 'Vendor Account 7 Ltd'")
    cm_user = psql("SELECT id FROM users WHERE subject = 'bench-cm'")
    admin_user = psql("SELECT id FROM users WHERE subject = 'bench-p1-admin'")
    org1 = psql("SELECT id FROM orgs WHERE name = 'Bench Partner 00001'")

    # Each case's pgbench script: pgbench's own lines (`\set`, BEGIN, COMMIT)
    # and statements of SQL by name, with the SQL text of their parameters
    # for the case's caller. A random opportunity or offer per transaction
    # is a sub-select on pgbench's `:n`; create's new id comes back through
    # `\gset`. The peer runs the same statements in the same order, binding
    # what its request and caller give (its `cases` in peer-sql.json).
    GSET = "\\gset"
    random_opp = "(SELECT id FROM bench_ids WHERE n = :n)"
    # HTTP consumes offers 1..30000 (and any added past 60000) once each;
    # pgbench re-accepts 30001..60000.
    random_offer = "(SELECT id FROM bench_accept_ids WHERE n = :n)"
    as_vendor = {"org": lit(vendor), "user": lit(cm_user)}  # bench-cm, a channel manager
    as_partner = {"org": lit(org0), "scope": uuids(scope)}  # bench-p0-admin, a distributor's admin
    page = {"limit": "51"}  # limit=50, and one more to tell whether a next page exists
    cases_sql = {
        "get": (["\\set n random(1, %d)" % OPPS, "opportunity"], dict(as_vendor, id=random_opp)),
        "list": (["list_managed"], dict(as_partner, **page)),
        "search": (["search_vendor"], dict(as_vendor, term=lit(TERMS['search']), pattern=lit(f"%{TERMS['search']}%"), masked="ARRAY[]", **page)),
        "search_rare": (["search_vendor"], dict(as_vendor, term=lit(TERMS['search_rare']), pattern=lit(f"%{TERMS['search_rare']}%"), masked="ARRAY[]", **page)),
        "search_partner": (["search_partner"], dict(as_partner, term=lit(TERMS['search_partner']),
                                                    masked=uuids(resellers), **page)),
        "search_partner_rare": (["search_partner"], dict(as_partner, term=lit(TERMS['search_partner_rare']),
                                                    masked=uuids(resellers), **page)),
        "list_updated": (["list_updated"], dict(as_partner, partner=lit(org0), **page)),
        "list_close_date": (["list_close_date"], dict(as_partner, partner=lit(org0), **page)),
        "create": (["BEGIN;", "customer", ("create_insert", GSET), "journal_created", "COMMIT;"],
                   dict(as_vendor, id=":id", customer_id=lit(vcust), topic=lit("Benchmark lead"), currency=lit("EUR"),
                        amount="12500", product_lines="ARRAY['cloud']", origin=lit("vendor"), country=lit("GB"))),
        "accept": (["\\set n random(30001, 60000)", "BEGIN;", "accept_lock", "policy_vendor", "accept_update",
                    "journal_accepted", "COMMIT;"],
                   {"id": random_offer, "org": lit(org1), "user": lit(admin_user), "validity_days": "90"}),
        "dashboard": (["dashboard_summary"], dict(as_partner, owner="NULL")),
    }
    scripts, peer_cases = {}, {}
    for name, (steps, values) in cases_sql.items():
        lines, used = [], []
        for step in steps:
            stmt, end = step if isinstance(step, tuple) else (step, ";")
            if stmt in SQL:
                lines.append(rendered(SQL[stmt], values) + ("" if end == ";" else " ") + end)
                used.append(stmt)
            elif stmt.startswith("\\") or stmt in ("BEGIN;", "COMMIT;"):
                lines.append(stmt)
            else:
                sys.exit(f"bench: {name} names no statement of SQL: {stmt}")
        scripts[name], peer_cases[name] = lines, used
    with open(os.path.join(OUT, "peer-sql.json"), "w") as f:
        json.dump({"statements": {k: dict(zip(("text", "params"), numbered(v))) for k, v in SQL.items()},
                   "cases": peer_cases}, f, indent=1)
    for name, lines in scripts.items():
        with open(os.path.join(OUT, f"{name}.sql"), "w") as f:
            f.write("\n".join(lines) + "\n")
    for name in scripts:
        if CASES and name not in CASES:
            continue
        pgbench(name, 1, seconds=1)  # every script runs cleanly before timing
    global PORT, SERVER_PID
    PORT = free_port()
    server = subprocess.Popen([PRM, "serve"], env=dict(env, PRM_LISTEN=f"127.0.0.1:{PORT}"),
                              stdout=subprocess.DEVNULL, stderr=open(os.path.join(OUT, "server.log"), "w"))
    SERVER_PID = server.pid
    # A failed case exits the run; the servers must not outlive it.
    import atexit
    atexit.register(lambda: server.poll() is None and server.kill())
    wait_ready(PORT, server)
    prm = Service("prm", PORT, server.pid)
    peer = None
    if PEER:
        # The peer's pool is the size of prm's, as prm reports it.
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{PORT}/metrics", timeout=5).read().decode()
        pool_size = re.search(r'^prm_db_pool_connections\{state="max"\} (\d+)$', metrics, re.M).group(1)
        peer_port = free_port()
        peer_proc = subprocess.Popen(
            ["node", os.path.join(ROOT, "bench", "peer", "server.js")],
            env=dict(env, PEER_LISTEN=f"127.0.0.1:{peer_port}", PEER_SQL=os.path.join(OUT, "peer-sql.json"),
                     PEER_POOL_SIZE=pool_size, PEER_JWT_SECRET=env["PRM_JWT_SECRET"],
                     PEER_AUTH_CACHE_MS=env.get("PRM_AUTH_CACHE_MS", "5000"), NODE_ENV="production"),
            stdout=subprocess.DEVNULL, stderr=open(os.path.join(OUT, "peer.log"), "w"))
        atexit.register(lambda: peer_proc.poll() is None and peer_proc.kill())
        wait_ready(peer_port, peer_proc)
        peer = Service("peer", peer_port, peer_proc.pid)
        print(f"bench: the peer (Fastify + pg, pool of {pool_size}) beside prm", flush=True)
    cm, admin, acceptor = token("bench-cm", env), token("bench-p0-admin", env), token("bench-p1-admin", env)
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

    def case_http(svc, name, conns, seconds=None):
        nonlocal accepted_so_far
        if name == "healthz":
            return wrk(svc, "/healthz", cm, conns, seconds=seconds)
        if name == "get":
            measure = svc is prm and seconds is None  # not while warming up
            before = auth_metrics() if measure else None
            r = wrk(svc, "/", cm, conns, "ids.lua", [ids], seconds=seconds)
            if measure and conns == 16:
                # Time spent authenticating, as a share of the machine's CPU
                # over the run: what the same run would gain without it.
                after = auth_metrics()
                spent, count = after[0] - before[0], after[1] - before[1]
                auth.append((spent / (SECONDS * (os.cpu_count() or 1)), spent / max(count, 1) * 1e6))
            return r
        if name == "list":
            return wrk(svc, "/api/v1/opportunities?view=managed&limit=50", admin, conns, seconds=seconds)
        if name in TERMS:
            who = admin if name in PARTNER_SEARCHES else cm
            return wrk(svc, f"/api/v1/opportunities?q={urllib.parse.quote(TERMS[name])}&limit=50", who, conns, seconds=seconds)
        if name == "list_updated":
            return wrk(svc, f"/api/v1/opportunities?partner_id={org0}&sort=-updated_at&limit=50", admin, conns, seconds=seconds)
        if name == "list_close_date":
            return wrk(svc, f"/api/v1/opportunities?partner_id={org0}&sort=expected_close_date&limit=50", admin, conns, seconds=seconds)
        if name == "create":
            return wrk(svc, "/", cm, conns, "create.lua", [vcust], seconds=seconds)
        if name == "accept":
            # Each run (prm's or the peer's) accepts offers from the start of
            # the pool; what the last run accepted is offered again first,
            # and a pool that the last run used more than half of is
            # doubled, so no machine is fast enough to run the case dry.
            nonlocal pool
            if accepted_so_far:
                reoffer(min(accepted_so_far, pool))
            if 2 * accepted_so_far > pool:
                pool = grow_pool(2 * accepted_so_far)
            r = wrk(svc, "/", acceptor, conns, "accept.lua", [accepts, 2, 0], seconds=seconds)
            # Threads may not take equal shares: count past anything used.
            accepted_so_far = 2 * r[3] + 4 * conns
            return r
        if name == "dashboard":
            return wrk(svc, "/api/v1/dashboard", admin, conns, seconds=seconds)

    cases = [("healthz", 16), ("get", 16), ("list", 16), ("list_updated", 16), ("list_close_date", 16), ("search", 16), ("search_rare", 16), ("search_partner", 16), ("search_partner_rare", 16), ("create", 16), ("accept", 16), ("dashboard", 16), ("get", 64), ("list", 64)]
    if CASES:  # BENCH_CASES=get,list runs only those (for profiling; the report then holds only them)
        cases = [c for c in cases if c[0] in CASES]
    services = [prm] + ([peer] if peer else [])
    results = {}
    peak_rss = 0
    # Warm caches, connections and their prepared statements on every case
    # first, and the peer's JIT (V8 optimizes a route's code only once it
    # has run a while, so a cold route would charge its compilation to the
    # first round).
    for name in dict.fromkeys(name for name, _ in cases):
        for svc in services:
            case_http(svc, name, 16, seconds=min(SECONDS, 2))
    for r in range(ROUNDS):
        for name, conns in cases:
            key = name if conns == 16 else f"{name}_c{conns}"
            # prm and the peer take turns at going first, so neither always
            # meets the state the other's load left (dirty pages, a longer
            # table) or always the fresher one.
            runs = {}
            for svc in (services if r % 2 == 0 else services[::-1]):
                runs[svc.name] = case_http(svc, name, conns)
                if svc is prm:
                    peak_rss = max(peak_rss, rss_kib(server.pid))
            db, db_p99 = pgbench(name, conns) if name != "healthz" else (None, None)
            results.setdefault(key, []).append((runs, db, db_p99))
            rps, p50, p99, _, _ = runs["prm"]
            line = f"  round {r + 1} {key:14s} http {rps:9.0f} rps  p50 {p50:6.2f} ms  p99 {p99:6.2f} ms"
            if db:
                line += f"   db {db:9.0f} tps  p99 {db_p99:6.2f} ms  ratio {rps / db:.2f}"
            if "peer" in runs:
                p_rps, p_p50, p_p99 = runs["peer"][:3]
                line += (f"   peer {p_rps:9.0f} rps  p99 {p_p99:6.2f} ms  ratio {rps / p_rps:.2f}"
                         f"  per CPU-s {per_cpu(runs['prm']) / per_cpu(runs['peer']):.2f}")
            print(line, flush=True)
    bulk = {}
    if not CASES or "export" in CASES:
        bulk["export"] = export_case(cm)
    if not CASES or "import" in CASES:
        bulk["import"] = import_case(cm, vcust, env)
    server.terminate(); server.wait(timeout=30)
    if peer:
        peer_proc.terminate(); peer_proc.wait(timeout=30)

    report = {}
    for key, rows in results.items():
        med = lambda f: statistics.median(f(runs, db) for runs, db, _ in rows)
        entry = {"rps": round(med(lambda s, d: s["prm"][0]), 1), "p50_ms": round(med(lambda s, d: s["prm"][1]), 3),
                 "p99_ms": round(med(lambda s, d: s["prm"][2]), 3)}
        if rows[0][1] is not None:
            entry["db_rps"] = round(med(lambda s, d: d), 1)
            # Each round's ratio comes from two runs side by side; their
            # median keeps one round's drift out of the other rounds' figures.
            entry["ratio"] = round(med(lambda s, d: s["prm"][0] / d), 3)
            entry["db_p99_ms"] = round(statistics.median(p99 for _, _, p99 in rows), 3)
        # Requests per second of the service's own CPU (user + system, read
        # from /proc over its wrk run).
        entry["per_cpu_s"] = round(med(lambda s, d: per_cpu(s["prm"])), 1)
        if "peer" in rows[0][0]:
            entry["peer_rps"] = round(med(lambda s, d: s["peer"][0]), 1)
            entry["peer_p50_ms"] = round(med(lambda s, d: s["peer"][1]), 3)
            entry["peer_p99_ms"] = round(med(lambda s, d: s["peer"][2]), 3)
            entry["peer_per_cpu_s"] = round(med(lambda s, d: per_cpu(s["peer"])), 1)
            entry["ratio_peer"] = round(med(lambda s, d: s["prm"][0] / s["peer"][0]), 3)
            entry["ratio_peer_cpu"] = round(med(lambda s, d: per_cpu(s["prm"]) / per_cpu(s["peer"])), 3)
        report[key] = entry
    if auth and "get" in report:
        report["get"]["auth_share"] = round(statistics.median(a[0] for a in auth), 4)
        report["get"]["auth_us"] = round(statistics.median(a[1] for a in auth), 2)
    report.update(bulk)
    report["_meta"] = {"scale": SCALE, "partners": PARTNERS, "opportunities": OPPS, "seconds": SECONDS,
                       "rounds": ROUNDS, "peak_rss_mib": round(peak_rss / 1024, 1), "cores": os.cpu_count(),
                       "peer": "fastify + pg (bench/peer)" if peer else None}
    path = os.path.join(OUT, "report.json" if SCALE == "100k" else f"report-{SCALE}.json")
    with open(path, "w") as f:
        json.dump(report, f, indent=2)
    # The plans behind the read cases at this scale, for docs/performance.md.
    with open(os.path.join(OUT, f"plans-{SCALE}.txt"), "w") as f:
        for name in ("get", "list", "list_updated", "list_close_date", "search", "search_rare", "search_partner", "search_partner_rare", "dashboard"):
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
    versus = [(k, v) for k, v in report.items() if "ratio_peer" in v]
    if versus:
        summary += "; to the peer, requests/s (per service CPU-second): " + ", ".join(
            f"{k} {v['ratio_peer']:.2f} ({v['ratio_peer_cpu']:.2f})" for k, v in versus)
        short = [f"{k} {v['ratio_peer_cpu']:.2f}" for k, v in versus if k in READS and v["ratio_peer_cpu"] < 2]
        summary += "; reads ≥ 2× the peer per CPU-second: " + (f"missed by {', '.join(short)}" if short else "met")
    tails = [(k, v) for k, v in report.items() if k in READS and "db_p99_ms" in v and not k.endswith("_c64")]
    if tails:
        summary += "; read p99 ms at 16 connections, prm (database alone): " + ", ".join(
            f"{k} {v['p99_ms']:.2f} ({v['db_p99_ms']:.2f})" for k, v in tails)
    print(f"bench {SCALE}: ratio to raw database (rps/db_rps): {summary}; peak RSS {report['_meta']['peak_rss_mib']} MiB; report {os.path.relpath(path, ROOT)}")

if __name__ == "__main__":
    main()
