#!/usr/bin/env bash
# Instructions per request, counted by callgrind: the same figure for the same
# binary and data whatever else the machine is doing, so a change's effect can
# be read without the run-to-run noise of `make bench`. Needs the 100k dataset
# that `make bench` keeps (run it once first) and valgrind.
#
#   bench/instructions.sh                     # the list case
#   BENCH_PATH=/api/v1/opportunities/<id> BENCH_SUBJECT=bench-cm bench/instructions.sh
#
# Only 127.0.0.1 is targeted; the load is one connection for a few seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
SERVER=${PRM_TEST_DATABASE_SERVER:-postgres://postgres@127.0.0.1:5432}
PRM=${PRM_BIN:-target/release/prm}
SEED=$(psql "$SERVER/postgres" -Atc "SELECT datname FROM pg_database WHERE datname LIKE 'prm_bench_100k_seed_%' LIMIT 1")
[ -n "$SEED" ] || { echo "run make bench first: it keeps the seeded dataset this uses" >&2; exit 1; }
DB=prm_bench_instructions
psql "$SERVER/postgres" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)"
psql "$SERVER/postgres" -qc "CREATE DATABASE $DB TEMPLATE $SEED STRATEGY FILE_COPY"
export DATABASE_URL="$SERVER/$DB?sslmode=disable" RUST_LOG=warn PRM_WORKER=false PRM_DB_POOL_SIZE=2 PRM_WORKERS=1 PRM_AUTH_CACHE_MS=60000
TOKEN=$("$PRM" token --subject "${BENCH_SUBJECT:-bench-p0-admin}" --ttl-hours 1)
URL="http://127.0.0.1:18977${BENCH_PATH:-/api/v1/opportunities?view=managed&limit=50}"
OUT=$(mktemp -d)
PRM_LISTEN=127.0.0.1:18977 valgrind --tool=callgrind --callgrind-out-file="$OUT/cg.%p" "$PRM" serve >/dev/null 2>"$OUT/valgrind.log" &
VG=$!
trap 'kill $VG 2>/dev/null; psql "$SERVER/postgres" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)"; rm -rf "$OUT"' EXIT
for _ in $(seq 1 120); do curl -sf -o /dev/null http://127.0.0.1:18977/healthz && break; sleep 0.5; done
for _ in $(seq 1 30); do curl -sf -o /dev/null -H "Authorization: Bearer $TOKEN" "$URL"; done  # warm caches
# callgrind_control finds the process by its command line and can miss it
# while valgrind is still busy; a second try after a pause finds it.
callgrind_control -z "$VG" >/dev/null 2>&1 || { sleep 2; callgrind_control -z "$VG" >/dev/null; }
N=0
for _ in $(seq 1 "${BENCH_REQUESTS:-200}"); do
  curl -sf -o /dev/null -H "Authorization: Bearer $TOKEN" "$URL" && N=$((N + 1))
done
callgrind_control -d "$VG" >/dev/null 2>&1
sleep 1
TOTAL=$(grep -h '^summary:' "$OUT"/cg.*.1 | awk '{print $2}')
echo "instructions per request: $((TOTAL / N)) ($N requests to $URL)"
