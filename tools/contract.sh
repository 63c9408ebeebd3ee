#!/usr/bin/env bash
# Outside tools against the committed contract and a live server (`make contract`):
#   1. Spectral lints openapi/openapi.json (errors fail);
#   2. openapi-typescript generates a client, tsc type-checks a scenario, which
#      then runs against the server (create → distribute → accept → progress → close);
#   3. schemathesis fuzzes every operation with tokens of several roles, in
#      positive and negative modes, with a fixed seed.
# Tools are installed once, pinned, under tools/node_modules and target/tools.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
TOOLS=$ROOT/tools
VENV=$ROOT/target/tools/venv
PRM=$ROOT/target/debug/prm
SERVER=${PRM_TEST_DATABASE_SERVER:-postgres://postgres@127.0.0.1:5432}

# Install (again only when the pins change).
if [ ! -f "$TOOLS/node_modules/.stamp" ] || [ "$TOOLS/package-lock.json" -nt "$TOOLS/node_modules/.stamp" ]; then
  (cd "$TOOLS" && npm ci --no-audit --no-fund --loglevel=error)
  touch "$TOOLS/node_modules/.stamp"
fi
if [ ! -f "$VENV/.stamp" ] || [ "$TOOLS/requirements.lock" -nt "$VENV/.stamp" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check -r "$TOOLS/requirements.lock"
  touch "$VENV/.stamp"
fi

echo "== spectral lint"
"$TOOLS/node_modules/.bin/spectral" lint openapi/openapi.json --ruleset "$TOOLS/.spectral.yaml" --fail-severity error --display-only-failures

echo "== typescript client: generate and type-check"
"$TOOLS/node_modules/.bin/openapi-typescript" openapi/openapi.json -o "$TOOLS/client/schema.d.ts" --silent
"$TOOLS/node_modules/.bin/tsc" -p "$TOOLS/client/tsconfig.json"

# A live server on its own database and a free loopback port.
DB=prm_contract_$$
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export DATABASE_URL=$SERVER/$DB PRM_LISTEN=127.0.0.1:$PORT PRM_WORKER=false RUST_LOG=error
cleanup() {
  [ -n "${PID:-}" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null || true
  psql "$SERVER/postgres" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
}
trap cleanup EXIT
"$PRM" seed-demo > /dev/null
"$PRM" serve > "$ROOT/target/contract-server.log" 2>&1 &
PID=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$PORT/readyz" > /dev/null && break; sleep 0.1; done
token() { "$PRM" token --subject "$1"; }

echo "== typescript client: scenario"
PRM_URL=http://127.0.0.1:$PORT CM_TOKEN=$(token demo-channel-manager) PARTNER_TOKEN=$(token demo-tailspin-admin) \
  "$TOOLS/node_modules/.bin/tsx" "$TOOLS/client/scenario.ts"

# positive_data_acceptance is left out on purpose: a schema cannot say that a
# referenced id must exist, that an idempotency key was used with another
# body, or that a cursor must come from an earlier page, and those answer 422.
for subject in demo-channel-manager demo-vendor-viewer demo-northwind-admin demo-contoso-am1 demo-tailspin-director; do
  echo "== schemathesis as $subject"
  # Run from target/ so schemathesis keeps its cache out of the source tree.
  (cd "$ROOT/target" && "$VENV/bin/st" run "$ROOT/openapi/openapi.json" --url "http://127.0.0.1:$PORT" \
    -H "Authorization: Bearer $(token "$subject")" \
    --seed 20261121 --max-examples 15 --phases=examples,coverage,fuzzing --mode all \
    --checks all --exclude-checks positive_data_acceptance \
    --no-color) 2>&1 | tee "$ROOT/target/schemathesis-$subject.log" | grep -E "generated|failures|Seed" || true
  grep -qE "^ *[0-9]+ generated, [0-9]+ passed" "$ROOT/target/schemathesis-$subject.log" \
    || { echo "schemathesis reported failures as $subject (see target/schemathesis-$subject.log)"; exit 1; }
done
echo "contract tools: spectral 0 errors; typescript client type-checked and ran; schemathesis clean for 5 roles"
