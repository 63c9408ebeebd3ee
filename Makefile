# prm — the commands people and CI use. `make run` and `make test` are all a
# fresh machine needs (Rust toolchain and a Postgres on 127.0.0.1:5432).

SHELL := /bin/bash
.DEFAULT_GOAL := help

CARGO ?= cargo
PRM := target/debug/prm
export DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/prm
# Postgres server the tests create their databases on (no database name).
export PRM_TEST_DATABASE_SERVER ?= postgres://postgres@127.0.0.1:5432
DIESEL_CLI_VERSION := 2.3.2
TOOLS := $(CURDIR)/target/tools

.PHONY: help deps build run test fmt-check lint unit-and-api-tests contract bench bench-peer bench-clean openapi schema clean-test-dbs cluster cluster-test

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

deps: ## Install what building needs: libpq headers, rustfmt and clippy
	@if ! pkg-config --exists libpq 2>/dev/null && ! [ -e /usr/include/postgresql/libpq-fe.h ]; then \
		echo "installing libpq-dev (Diesel links libpq)"; \
		$(if $(filter 0,$(shell id -u)),,sudo) apt-get update -qq && \
		$(if $(filter 0,$(shell id -u)),,sudo) apt-get install -y -qq libpq-dev pkg-config >/dev/null; \
	fi
	@command -v openssl >/dev/null || { \
		echo "installing openssl (tests generate throwaway RSA keys)"; \
		$(if $(filter 0,$(shell id -u)),,sudo) apt-get update -qq && \
		$(if $(filter 0,$(shell id -u)),,sudo) apt-get install -y -qq openssl >/dev/null; }
	@command -v curl >/dev/null && command -v npm >/dev/null && python3 -m venv --help >/dev/null 2>&1 || { \
		echo "installing curl, npm and python3-venv (contract tools)"; \
		$(if $(filter 0,$(shell id -u)),,sudo) apt-get update -qq && \
		$(if $(filter 0,$(shell id -u)),,sudo) apt-get install -y -qq curl npm python3-venv >/dev/null; }
	@command -v haproxy >/dev/null || { \
		echo "installing haproxy (the cluster tests' load balancer)"; \
		$(if $(filter 0,$(shell id -u)),,sudo) apt-get update -qq && \
		$(if $(filter 0,$(shell id -u)),,sudo) apt-get install -y -qq haproxy >/dev/null; }
	@command -v psql >/dev/null || { \
		echo "installing postgresql-client (used to clean up test databases)"; \
		$(if $(filter 0,$(shell id -u)),,sudo) apt-get update -qq && \
		$(if $(filter 0,$(shell id -u)),,sudo) apt-get install -y -qq postgresql-client >/dev/null; }
	@$(CARGO) fmt --version >/dev/null 2>&1 || rustup component add rustfmt
	@$(CARGO) clippy --version >/dev/null 2>&1 || rustup component add clippy

build: deps ## Build the prm binary
	$(CARGO) build -p prm-api --bin prm

run: build ## Create, migrate and seed the local database, print demo tokens, serve
	$(PRM) seed-demo
	exec $(PRM) serve

test: deps fmt-check lint build contract clean-test-dbs unit-and-api-tests ## Everything CI enforces

fmt-check:
	$(CARGO) fmt --all -- --check

lint: ## Clippy on every target, warnings are errors
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

unit-and-api-tests: ## Domain unit tests, store tests, black-box API tests (includes the OpenAPI drift check)
	@mkdir -p target
	@set -o pipefail; $(CARGO) test --workspace --locked --all-targets 2>&1 | tee target/test-output.txt
	@# One closing line summing every test binary's result.
	@awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($$(i) ~ /^passed;?$$/) p += $$(i-1); if ($$(i) ~ /^failed;?$$/) f += $$(i-1) } } \
		END { printf "%d passed, %d failed\n", p, f }' target/test-output.txt

cluster: build ## Three replicas with their workers behind HAProxy on 127.0.0.1:8080, on the local database (demo data seeded)
	bash tools/cluster.sh

cluster-test: deps ## The cluster tests alone: three real replicas behind HAProxy, driven through it (also part of make test)
	$(CARGO) test --locked -p prm-tests --test cluster -- --nocapture

contract: build ## Outside tools: Spectral and Redocly lint, generated TypeScript and Python client scenarios, schemathesis with its stateful phase (pinned, installed on first use)
	bash tools/contract.sh

bench: deps ## Service vs raw database and vs a Fastify + pg peer, side by side (BENCH_SCALE=1m for a million opportunities, BENCH_PEER=0 without the peer); writes target/bench/report.json
	@command -v wrk >/dev/null || { $(if $(filter 0,$(shell id -u)),,sudo) apt-get update -qq && $(if $(filter 0,$(shell id -u)),,sudo) apt-get install -y -qq wrk >/dev/null; }
	@command -v pgbench >/dev/null || { $(if $(filter 0,$(shell id -u)),,sudo) apt-get update -qq && $(if $(filter 0,$(shell id -u)),,sudo) apt-get install -y -qq postgresql-client >/dev/null; }
	@# The peer's pinned packages, installed again only when its lockfile changes.
	@if [ "$${BENCH_PEER:-1}" != 0 ] && { [ ! -f bench/peer/node_modules/.stamp ] || [ bench/peer/package-lock.json -nt bench/peer/node_modules/.stamp ]; }; then \
		(cd bench/peer && npm ci --no-audit --no-fund --loglevel=error) && touch bench/peer/node_modules/.stamp; fi
	$(CARGO) build --release --locked -p prm-api --bin prm
	python3 bench/run.py

bench-peer: ## make bench's HTTP cases only (no export or import), prm beside the peer and the database
	BENCH_CASES=$${BENCH_CASES:-healthz,get,list,list_updated,list_close_date,search,search_rare,search_partner,search_partner_rare,create,accept,dashboard} $(MAKE) bench

openapi: ## Regenerate openapi/openapi.json from the code
	$(CARGO) run -q -p prm-api --bin prm -- openapi > openapi/openapi.json

clean-test-dbs: ## Drop test databases left by interrupted runs, and test templates of other migration sets
	@psql "$(PRM_TEST_DATABASE_SERVER)/postgres" -Atc \
		"SELECT datname FROM pg_database WHERE datname LIKE 'prm\_test\_%' OR datname LIKE 'prm\_tpl\_%'" 2>/dev/null | \
		while read -r db; do psql "$(PRM_TEST_DATABASE_SERVER)/postgres" -qc "DROP DATABASE IF EXISTS \"$$db\" WITH (FORCE)"; done; true

bench-clean: ## Drop the bench's databases, including the seeded datasets it keeps for re-runs
	@psql "$(PRM_TEST_DATABASE_SERVER)/postgres" -Atc \
		"SELECT datname FROM pg_database WHERE datname LIKE 'prm\_bench\_%'" 2>/dev/null | \
		while read -r db; do psql "$(PRM_TEST_DATABASE_SERVER)/postgres" -qc "DROP DATABASE IF EXISTS \"$$db\" WITH (FORCE)"; done; true

schema: ## Regenerate crates/store/src/schema.rs from the migrations (installs diesel_cli)
	@test -x $(TOOLS)/bin/diesel || $(CARGO) install diesel_cli --version $(DIESEL_CLI_VERSION) \
		--no-default-features --features postgres --locked --root $(TOOLS)
	$(TOOLS)/bin/diesel database reset --database-url $(PRM_TEST_DATABASE_SERVER)/prm_schema
	@# diesel_cli adds a helper migration we do not use.
	rm -rf migrations/00000000000000_diesel_initial_setup
	$(TOOLS)/bin/diesel print-schema --database-url $(PRM_TEST_DATABASE_SERVER)/prm_schema > crates/store/src/schema.rs
	$(TOOLS)/bin/diesel database drop --database-url $(PRM_TEST_DATABASE_SERVER)/prm_schema
