#!/usr/bin/env bash
# Bounded load on loopback with wrk: raw /healthz (the base of the ratios), an authenticated
# inquiry, and an application submit, against a real `panjereh serve` with the sample
# adapters. Usage:
#   scripts/load.sh [DATABASE_URL]      (default: a fresh SQLite file)
# Needs: wrk (apt-get install wrk), plugins-dist/ (cargo xtask plugins), and the host built
# (cargo build --release -p panjereh-host). Each run lasts DURATION seconds (default 10).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-target/release/panjereh}
DURATION=${DURATION:-10}
PORT=${PORT:-18080}
WORK=$(mktemp -d)
DB=${1:-sqlite://$WORK/load.db}
trap 'kill $HOST 2>/dev/null || true; rm -rf "$WORK"' EXIT

# Isfahan's applications keep their cases in kv: grant it (and nothing else) for the run.
cat > "$WORK/config.toml" <<TOML
[adapters.isfahan-municipality]
grant = { kv-quota-kib = 1048576, identity = ["national-id"] }
[auth]
otp-backoff-ms = 1
TOML
RUST_LOG=warn,panjereh_host::auth=info "$BIN" serve --listen 127.0.0.1:$PORT --plugins plugins-dist \
  --database-url "$DB" --config "$WORK/config.toml" 2> "$WORK/host.log" &
HOST=$!
for _ in $(seq 100); do curl -sf "127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.2; done

curl -sf -H 'content-type: application/json' -d '{"national_id":"1271408929","mobile":"09131234567"}' \
  "127.0.0.1:$PORT/auth/otp/start" >/dev/null
sleep 0.3
CODE=$(sed 's/\x1b\[[0-9;]*m//g' "$WORK/host.log" | grep -o 'code=[0-9]*' | tail -1 | cut -d= -f2)
TOKEN=$(curl -sf -H 'content-type: application/json' -d "{\"national_id\":\"1271408929\",\"code\":\"$CODE\"}" \
  "127.0.0.1:$PORT/auth/otp/verify" | sed 's/.*"token":"\([^"]*\)".*/\1/')

cat > "$WORK/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["content-type"] = "application/json"
wrk.headers["authorization"] = "Bearer $TOKEN"
wrk.body = os.getenv("BODY")
LUA

run() { # name, path, [body]
  local out
  out=$(BODY=${3:-} wrk -t2 -c16 -d"${DURATION}s" --latency ${3:+-s "$WORK/post.lua"} "http://127.0.0.1:$PORT$2")
  local rps p99
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  p99=$(echo "$out" | awk '$1 == "99%" {print $2}')
  local non2xx
  non2xx=$(echo "$out" | awk '/Non-2xx/ {print $5}')
  printf '| %-28s | %10s req/s | p99 %8s | non-2xx %s |\n' "$1" "$rps" "$p99" "${non2xx:-0}"
}
echo "database: ${DB%%:*}"
run "GET /healthz" /healthz
run "authenticated inquiry" /api/v1/services/utility-bills/bill-details/inquiries \
  '{"input":{"bill-id":"7748317800142","payment-id":"1770160"}}'
run "application submit" /api/v1/services/isfahan-municipality/suggestion-complaint/applications \
  '{"input":{"kind":"suggestion","subject":"ایستگاه دوچرخه","body":"ایستگاه دوچرخه در میدان جمهوری لازم است"}}'
