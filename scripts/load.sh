#!/usr/bin/env bash
# Bounded load on loopback with wrk against a real `panjereh serve` with the sample adapters:
#   - GET /healthz: the raw rate of the HTTP stack, the base of the ratios;
#   - an authenticated inquiry answered inside its adapter (utility bills);
#   - an authenticated inquiry through an agency back-end (traffic police: the adapter calls
#     the mock back-end over HTTP on loopback, with the citizen's national ID);
#   - an application submit (Isfahan's suggestion box: validation, the adapter's submit, its
#     kv storage, the tracking code, the application and its first event stored).
#   - the same inquiry anonymously, and a raw axum hello (`bench/axum-baseline`, the same
#     HTTP stack with no middleware and no work), for scale.
# Usage:
#   scripts/load.sh                          a fresh SQLite file, then PostgreSQL (one run)
#   scripts/load.sh sqlite                   a fresh SQLite file only
#   scripts/load.sh postgres://127.0.0.1/x   a PostgreSQL database (created if missing)
# Needs wrk (apt-get install wrk) and release builds:
#   cargo xtask plugins && cargo build --release -p panjereh-host -p mock-agencies -p axum-baseline -p paced
# DURATION (seconds per run, default 10), CONNECTIONS (default 16), PORT (default 18080).
# PROFILE=1 also records the host with perf (apt-get install linux-perf) during the signed-in
# bills run on the first database (PROFILE=police, or any part of another row's name, for
# that row): target/profile/perf.data, the flame graph target/profile/flamegraph.svg, and
# the split of its samples on stderr. "p99 at ½" is the p99 at half the row's rate, sent
# open-loop by bench/paced (each latency from when its request was due). "host CPU" is how many cores the host kept busy during
# the run (below the cores left by wrk, the row waits on something: a commit, a back-end).
# The last column (SQLite) is how many durable writes
# shared each commit during the run (the host's group commit, `/metrics`).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-target/release/panjereh}
MOCKS=${MOCKS:-target/release/mock-agencies}
BASELINE=${BASELINE:-target/release/axum-baseline}
PACED=${PACED:-target/release/paced}
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-16}
PORT=${PORT:-18080}
for need in "$BIN" "$MOCKS" "$BASELINE" "$PACED" plugins-dist/utility-bills.wasm; do
  [ -e "$need" ] || { echo "missing $need: cargo xtask plugins && cargo build --release -p panjereh-host -p mock-agencies -p axum-baseline -p paced" >&2; exit 1; }
done
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 1; }

WORK=$(mktemp -d)
PIDS=()
cleanup() { kill "${PIDS[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
[ -z "${PROFILE:-}" ] || rm -f target/profile/perf.data
# The mock agency back-ends (traffic police on 127.0.0.1:9101), unless already running.
if ! curl -s -o /dev/null 127.0.0.1:9101; then
  "$MOCKS" > "$WORK/mocks.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 50); do curl -s -o /dev/null 127.0.0.1:9101 && break; sleep 0.1; done
fi

# The raw axum baseline beside the host, on the next port.
"$BASELINE" "127.0.0.1:$((PORT + 1))" &
PIDS+=($!)

# The development grants (config/dev.toml).
cat > "$WORK/config.toml" <<TOML
# One client (wrk) makes every anonymous request: its per-client limit is off here.
[server]
anonymous-inquiries-per-minute = 0

[auth]
# The development notifier writes the code to the log, on loopback only.
otp = "development"
otp-backoff-ms = 1

[adapters.isfahan-municipality]
grant = { kv-quota-kib = 262144, identity = ["national-id"] }

[adapters.traffic-police]
grant = { config = ["base-url", "api-key"], http = ["127.0.0.1:9101"], identity = ["national-id"] }

[adapters.traffic-police.config]
base-url = "http://127.0.0.1:9101"
api-key = { secret = "dev-police-key" }
TOML
measure() { # database URL
DB=$1
if [[ $DB == postgres* ]]; then
  name=${DB##*/}
  psql "${DB%/*}/postgres" -qtc "DROP DATABASE IF EXISTS $name WITH (FORCE)" -c "CREATE DATABASE $name" >/dev/null
fi
RUST_LOG=warn,panjereh_host::auth=info "$BIN" serve --listen 127.0.0.1:$PORT --plugins plugins-dist \
  --database-url "$DB" --config "$WORK/config.toml" 2> "$WORK/host.log" &
HOST=$!
PIDS+=($HOST)
for _ in $(seq 100); do curl -sf "127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.2; done

# Sign in as the owner of the mock police's first vehicle; the code comes from the log.
curl -sf -H 'content-type: application/json' -d '{"national_id":"0499370899","mobile":"09121234567"}' \
  "127.0.0.1:$PORT/auth/otp/start" >/dev/null
sleep 0.3
CODE=$(sed 's/\x1b\[[0-9;]*m//g' "$WORK/host.log" | grep -o 'code="\?[0-9]\{5\}' | tail -1 | grep -o '[0-9]*$' || true)
TOKEN=$(curl -s -H 'content-type: application/json' -d "{\"national_id\":\"0499370899\",\"code\":\"$CODE\"}" \
  "127.0.0.1:$PORT/auth/otp/verify" | sed -n 's/.*"token":"\([^"]*\)".*/\1/p')
[ -n "$TOKEN" ] || { echo "sign-in failed; host log:" >&2; cat "$WORK/host.log" >&2; exit 1; }

cat > "$WORK/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["content-type"] = "application/json"
wrk.headers["authorization"] = "Bearer $TOKEN"
wrk.body = os.getenv("BODY")
LUA
grep -v authorization "$WORK/post.lua" > "$WORK/anonymous.lua"

BASE=
# The host's CPU time so far (user + system, clock ticks); for a row, the cores it kept busy.
host_cpu() { awk '{print $14 + $15}' "/proc/$HOST/stat"; }
# The host's group-commit counters (SQLite): commits, then the writes they held.
group_commits() {
  curl -s "127.0.0.1:$PORT/metrics" | awk '$1 == "panjereh_db_group_commits_total" {c = $2}
    $1 == "panjereh_db_group_writes_total" {w = $2} END {print c + 0, w + 0}'
}
run() { # name, path, [body], [origin]
  local body=${3:-} origin=${4:-http://127.0.0.1:$PORT} script=$WORK/post.lua
  [ -n "${ANONYMOUS:-}" ] && script=$WORK/anonymous.lua
  # One request first: a run whose requests fail is reported, not measured.
  if [ -n "$body" ]; then
    local status
    status=$(curl -s -o "$WORK/first.json" -w '%{http_code}' -H 'content-type: application/json' \
      -H "authorization: Bearer $TOKEN" -d "$body" "127.0.0.1:$PORT$2")
    [[ $status == 2* ]] || { echo "$1: $status $(cat "$WORK/first.json")" >&2; exit 1; }
  fi
  local out rps p50 p99 errors
  local perf= profiled="inquiry in the adapter (bills)"
  [[ ${PROFILE:-1} =~ ^(1|yes)$ ]] || profiled=$PROFILE
  local before cpu
  before=$(group_commits)
  cpu=$(host_cpu)
  if [ -n "${PROFILE:-}" ] && [[ $1 == *"$profiled"* ]] && [ ! -e target/profile/perf.data ]; then
    mkdir -p target/profile
    perf record -F 499 --call-graph dwarf,8192 -p "$HOST" -o target/profile/perf.data -- sleep "$DURATION" 2>/dev/null &
    perf=$!
  fi
  out=$(BODY=$body wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" --latency ${body:+-s "$script"} "$origin$2")
  if [ -n "$perf" ]; then
    wait "$perf" || true
    echo "profile of \"$1\" on ${DB%%:*}:" >&2
    perf script --no-inline -i target/profile/perf.data 2>/dev/null | python3 scripts/flamegraph.py target/profile/flamegraph.svg >&2
  fi
  cpu=$(awk -v a="$cpu" -v b="$(host_cpu)" -v t="$DURATION" -v hz="$(getconf CLK_TCK)" \
    'BEGIN {printf "%.2f", (b - a) / hz / t}')
  [ -z "${4:-}" ] || cpu=-
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  errors=$(awk '/Non-2xx/ {print $5}' <<<"$out")
  BASE=${BASE:-$rps}
  # On SQLite, the durable writes that shared each commit during the run.
  local shared
  shared=$(awk -v a="$before" -v b="$(group_commits)" 'BEGIN {
    split(a, x, " "); split(b, y, " "); c = y[1] - x[1];
    if (c > 0) printf "%.1f", (y[2] - x[2]) / c; else printf "-" }')
  # Then half that rate, open-loop (bench/paced): each latency counted from when its request
  # was due, so a server falling behind shows in the p99.
  local half=- paced_args=()
  if [ -n "$body" ]; then
    paced_args=(--body "$body")
    [ -n "${ANONYMOUS:-}" ] || paced_args+=(--header "authorization: Bearer $TOKEN")
  fi
  if [ -z "${4:-}" ]; then
    half=$("$PACED" --rate "$(awk -v r="$rps" 'BEGIN {printf "%d", r / 2}')" --duration "$DURATION" \
      --connections "$CONNECTIONS" "${paced_args[@]}" "$origin$2" | sed -n 's/.* p99_ms=\([0-9.]*\).*/\1ms/p')
  fi
  printf '| %-34s | %10s | %5.3f | %8s | %8s | %9s | %6s | %9s | %13s |\n' "$1" "$rps" \
    "$(awk -v a="$rps" -v b="$BASE" 'BEGIN {print a / b}')" "$p50" "$p99" "$half" "${errors:-0}" "$cpu" "$shared"
  if [ -n "$errors" ]; then # what the host said about the failures
    sed 's/\x1b\[[0-9;]*m//g' "$WORK/host.log" | grep -a 'WARN\|ERROR' | grep -av 'one-time\|on_failure' \
      | cut -c1-300 | tail -5 >&2
  fi
}

echo
echo "database: ${DB%%:*}, $CONNECTIONS connections, ${DURATION}s per run, $(nproc) cores shared with wrk"
echo "| request                            |      req/s | ratio |      p50 |      p99 | p99 at ½ | non-2xx | host CPU | writes/commit |"
echo "|------------------------------------|-----------:|------:|---------:|---------:|---------:|--------:|---------:|--------------:|"
run "GET /healthz" /healthz
run "raw axum hello (axum-baseline)" / "" "http://127.0.0.1:$((PORT + 1))"
ANONYMOUS=1 run "inquiry in the adapter, anonymous" /api/v1/services/utility-bills/bill-details/inquiries \
  '{"input":{"bill-id":"7748317800142","payment-id":"1770160"}}'
run "inquiry in the adapter (bills)" /api/v1/services/utility-bills/bill-details/inquiries \
  '{"input":{"bill-id":"7748317800142","payment-id":"1770160"}}'
run "inquiry via back-end (police)" /api/v1/services/traffic-police/vehicle-fines/inquiries \
  '{"input":{"plate":"12ب345-13"}}'
run "application submit (Isfahan)" /api/v1/services/isfahan-municipality/suggestion-complaint/applications \
  '{"input":{"kind":"suggestion","subject":"ایستگاه دوچرخه","body":"ایستگاه دوچرخه در میدان جمهوری لازم است"}}'
kill "$HOST"; wait "$HOST" 2>/dev/null || true
}

case ${1:-both} in
  both) measure "sqlite://$WORK/load.db"; measure postgres://127.0.0.1/panjereh_load ;;
  sqlite) measure "sqlite://$WORK/load.db" ;;
  *) measure "$1" ;;
esac
