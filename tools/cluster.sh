#!/usr/bin/env bash
# `make cluster`: three `prm serve` replicas, each with its worker, on one
# Postgres database, behind HAProxy on PRM_CLUSTER_LISTEN (default
# 127.0.0.1:8080), health-checking /readyz (tools/cluster/haproxy.cfg).
# Seeds the demo data and prints its tokens like `make run`. Ctrl-C stops
# everything. Try a rolling restart: `kill -TERM <pid>` of one replica (the
# pids are printed), and start it again with the line printed beside it.
set -euo pipefail
cd "$(dirname "$0")/.."
PRM=$PWD/target/debug/prm
LISTEN=${PRM_CLUSTER_LISTEN:-127.0.0.1:8080}
HOST=${LISTEN%:*}
BASE_PORT=${PRM_CLUSTER_REPLICA_PORT:-8181}
export DATABASE_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/prm}
LOGS=$PWD/target/cluster
mkdir -p "$LOGS"

"$PRM" seed-demo
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM
for i in 1 2 3; do
  port=$((BASE_PORT + i - 1))
  PRM_LISTEN=127.0.0.1:$port PRM_WORKER=true "$PRM" serve > "$LOGS/replica-$i.log" 2>&1 &
  pids+=($!)
  export "PRM_REPLICA_$i=127.0.0.1:$port"
  echo "replica $i: pid $! on 127.0.0.1:$port (log $LOGS/replica-$i.log); restart: PRM_LISTEN=127.0.0.1:$port PRM_WORKER=true $PRM serve"
done
for i in 1 2 3; do
  port=$((BASE_PORT + i - 1))
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/readyz" > /dev/null && break; sleep 0.1; done
done
export PRM_BALANCER_LISTEN=$LISTEN
haproxy -db -f tools/cluster/haproxy.cfg > "$LOGS/haproxy.log" 2>&1 &
pids+=($!)
echo "balancer: http://$LISTEN (HAProxy pid $!, log $LOGS/haproxy.log); Ctrl-C stops the cluster"
wait -n "${pids[@]}"
