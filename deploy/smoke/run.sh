#!/usr/bin/env bash
# Cluster smoke test without containers: a real Temporal server on
# PostgreSQL, two `latentda worker` processes and `latentda run --address`,
# all on this machine. Proves the path that deploy/compose.yaml and
# deploy/k8s/ take, with the same binaries, schema and commands.
#
#   bash deploy/smoke/run.sh            # from anywhere in the repo
#
# It builds the Temporal server and temporal-sql-tool at the version pinned
# in go.mod (cached in $LATENTDA_SMOKE_CACHE, default ~/.cache/latentda-smoke),
# installs PostgreSQL from Debian if it is missing (needs root and apt-get),
# runs a private PostgreSQL cluster, applies the Temporal schema, starts the
# server, registers the namespace (`latentda setup`), starts two workers
# with metrics, runs a short Lorenz-96 ETKF experiment with regular
# activities so that batches can land on either worker, checks the result
# and tears everything down (SMOKE_KEEP=1 keeps the work directory).
#
# Ports: SMOKE_PORT_BASE (default 27233) and the next 20 ports; PostgreSQL
# on SMOKE_PG_PORT (default 25432).
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo"
export GOTOOLCHAIN=local

base=${SMOKE_PORT_BASE:-27233}
pg_port=${SMOKE_PG_PORT:-25432}
frontend=$base
cycles=${SMOKE_CYCLES:-600}
t_start=$(date +%s)

log() { printf '== [%4ds] %s\n' $(($(date +%s) - t_start)) "$*" >&2; }
fail() { printf 'smoke: FAIL: %s\n' "$*" >&2; exit 1; }

# --- build -----------------------------------------------------------------
server_version=$(go list -m -f '{{.Version}}' go.temporal.io/server)
cache=${LATENTDA_SMOKE_CACHE:-$HOME/.cache/latentda-smoke}/$server_version
mkdir -p "$cache/bin"
if [ ! -x "$cache/bin/server" ] || [ ! -x "$cache/bin/sql" ]; then
  log "building temporal-server and temporal-sql-tool $server_version (several minutes on 2 cores)"
  GOBIN="$cache/bin" go install \
    "go.temporal.io/server/cmd/server@$server_version" \
    "go.temporal.io/server/cmd/tools/sql@$server_version"
fi
schema=$(go mod download -json "go.temporal.io/server@$server_version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')/schema/postgresql/v12
[ -d "$schema/temporal/versioned" ] || fail "no schema under $schema"

work=$(mktemp -d /tmp/latentda-smoke.XXXXXX)
chmod 755 "$work"
log "building latentda into $work"
go build -o "$work/latentda" ./cmd/latentda

# --- PostgreSQL --------------------------------------------------------------
pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
if [ -z "$pgbin" ]; then
  log "installing PostgreSQL from Debian"
  [ "$(id -u)" = 0 ] || fail "PostgreSQL is not installed and this is not root: apt-get install postgresql"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
fi
# initdb and postgres refuse to run as root: use the postgres account.
as_pg=()
if [ "$(id -u)" = 0 ]; then
  id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
  as_pg=(runuser -u postgres --)
fi

pids=()
cleanup() {
  status=$?
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  if [ -f "$work/pg/postmaster.pid" ]; then
    "${as_pg[@]}" "$pgbin/pg_ctl" -D "$work/pg" -m fast -w stop >/dev/null 2>&1 || true
  fi
  if [ "$status" != 0 ]; then
    for f in "$work"/*.log; do [ -f "$f" ] && { echo "--- tail $f" >&2; tail -n 20 "$f" >&2; }; done
  fi
  if [ "${SMOKE_KEEP:-0}" = 1 ]; then echo "kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

log "starting PostgreSQL ($pgbin) on 127.0.0.1:$pg_port"
mkdir -p "$work/pg" "$work/pgsock"
if [ "$(id -u)" = 0 ]; then chown postgres "$work/pg" "$work/pgsock"; fi
"${as_pg[@]}" "$pgbin/initdb" -D "$work/pg" -U postgres -A trust >"$work/initdb.log" 2>&1
"${as_pg[@]}" "$pgbin/pg_ctl" -D "$work/pg" -w -l "$work/pg/server.log" \
  -o "-p $pg_port -k $work/pgsock -c listen_addresses=127.0.0.1" start >/dev/null
psql() { "$pgbin/psql" -h 127.0.0.1 -p "$pg_port" -U postgres -v ON_ERROR_STOP=1 -q "$@"; }
psql -c "CREATE ROLE temporal LOGIN CREATEDB PASSWORD 'temporal'"

log "creating the temporal and temporal_visibility schemas"
sqltool() { "$cache/bin/sql" --plugin postgres12 --ep 127.0.0.1 -p "$pg_port" -u temporal --pw temporal "$@"; }
for db in temporal:temporal temporal_visibility:visibility; do
  name=${db%%:*} dir=${db##*:}
  {
    sqltool --db "$name" create
    sqltool --db "$name" setup-schema -v 0.0
    sqltool --db "$name" update-schema -d "$schema/$dir/versioned"
  } >>"$work/schema.log" 2>&1 || fail "schema setup of $name (see $work/schema.log)"
done

# --- Temporal server ---------------------------------------------------------
# From config/development-postgres12.yaml of the server module, with this
# script's ports and without archival.
cat >"$work/temporal.yaml" <<EOF
log:
  stdout: true
  level: warn
persistence:
  defaultStore: postgres-default
  visibilityStore: postgres-visibility
  numHistoryShards: 4
  datastores:
    postgres-default:
      sql:
        pluginName: postgres12
        databaseName: temporal
        connectAddr: "127.0.0.1:$pg_port"
        connectProtocol: tcp
        user: temporal
        password: temporal
        maxConns: 20
        maxIdleConns: 20
        maxConnLifetime: 1h
    postgres-visibility:
      sql:
        pluginName: postgres12
        databaseName: temporal_visibility
        connectAddr: "127.0.0.1:$pg_port"
        connectProtocol: tcp
        user: temporal
        password: temporal
        maxConns: 2
        maxIdleConns: 2
        maxConnLifetime: 1h
global:
  membership:
    maxJoinDuration: 30s
    broadcastAddress: 127.0.0.1
services:
  frontend:
    rpc: {grpcPort: $frontend, membershipPort: $((base + 10)), bindOnLocalHost: true, httpPort: $((base + 5))}
  history:
    rpc: {grpcPort: $((base + 1)), membershipPort: $((base + 11)), bindOnLocalHost: true}
  matching:
    rpc: {grpcPort: $((base + 2)), membershipPort: $((base + 12)), bindOnLocalHost: true}
  worker:
    rpc: {grpcPort: $((base + 3)), membershipPort: $((base + 13)), bindOnLocalHost: true}
clusterMetadata:
  enableGlobalNamespace: false
  failoverVersionIncrement: 10
  masterClusterName: active
  currentClusterName: active
  clusterInformation:
    active:
      enabled: true
      initialFailoverVersion: 1
      rpcName: frontend
      rpcAddress: "127.0.0.1:$frontend"
dcRedirectionPolicy:
  policy: noop
EOF
log "starting temporal-server on 127.0.0.1:$frontend"
"$cache/bin/server" --config-file "$work/temporal.yaml" --allow-no-auth start >"$work/server.log" 2>&1 &
pids+=($!)

export TEMPORAL_ADDRESS=127.0.0.1:$frontend TEMPORAL_NAMESPACE=default LATENTDA_STATE_DIR=$work/state
log "registering the namespace and search attributes (latentda setup)"
"$work/latentda" setup --retention 24h --wait 2m >"$work/setup.log" 2>&1 || fail "latentda setup (see $work/setup.log)"

# --- workers and the run -----------------------------------------------------
for i in 1 2; do
  "$work/latentda" worker --log-format json --metrics-addr "127.0.0.1:$((base + 20 + i))" >"$work/worker$i.log" 2>&1 &
  pids+=($!)
done

sed "s/^cycles: .*/cycles: $cycles/" examples/l96-etkf.yaml >"$work/l96.yaml"
# Two runs at once, with regular activities that go through the task queue
# (the workflow disables eager execution, which would keep a run's batches
# on the worker that ran its workflow task): both workers must serve.
log "running two experiments of $cycles cycles of L96 ETKF on the two workers"
t_run=$(date +%s)
runs=(smoke-a smoke-b)
run_pids=()
for r in "${runs[@]}"; do
  "$work/latentda" run --no-worker --activity regular --batch-cycles 50 --run-id "$r" \
    -c "$work/l96.yaml" -o json >"$work/$r.json" 2>"$work/$r.log" &
  run_pids+=($!)
done
for i in 0 1; do
  wait "${run_pids[$i]}" || fail "latentda run ${runs[$i]} exited with status $?"
done
log "runs took $(($(date +%s) - t_run)) s"

# --- checks ------------------------------------------------------------------
field() { sed -n "s/^  \"$2\": \(.*\)$/\1/p" "$work/$1.json" | tr -d '",'; }
for r in "${runs[@]}"; do
  rmse=$(field "$r" rmse_a)
  diag=$(field "$r" diagnostics)
  [ "$(field "$r" cycles)" = "$cycles" ] || fail "$r: summary has $(field "$r" cycles) cycles, want $cycles"
  [ -s "$diag" ] || fail "$r: no diagnostics file at $diag"
  awk -v r="$rmse" 'BEGIN { exit !(r > 0 && r < 0.5) }' || fail "$r: rmse_a $rmse is not in (0, 0.5) (L96 ETKF reference 0.18)"
  log "$r: rmse_a $rmse over $cycles cycles, diagnostics $(stat -c %s "$diag") bytes"
done
# Same config and seed, different run IDs: the science must agree.
[ "$(field smoke-a rmse_a)" = "$(field smoke-b rmse_a)" ] || fail "the two runs disagree: $(field smoke-a rmse_a) vs $(field smoke-b rmse_a)"

# Every cycle ran on one of the two workers, and their metrics say so.
total=0
for i in 1 2; do
  n=$(curl -fsS "http://127.0.0.1:$((base + 20 + i))/metrics" | sed -n 's/^latentda_cycles_total \(.*\)$/\1/p')
  batches=$(grep -c '"msg":"cycles done"' "$work/worker$i.log" || true)
  log "worker $i: ${n:-0} cycles in $batches batches"
  [ "$batches" -gt 0 ] || fail "worker $i ran no batch: the work did not spread over the workers"
  total=$(awk -v a="$total" -v b="${n:-0}" 'BEGIN { print a + b }')
done
[ "$total" = $((2 * cycles)) ] || fail "the workers' latentda_cycles_total add up to $total, want $((2 * cycles))"

log "OK: total $(($(date +%s) - t_start)) s"
