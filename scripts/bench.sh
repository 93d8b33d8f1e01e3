#!/usr/bin/env bash
# Every benchmark, one after the other, and one dated report of all their figures (var/bench/<UTC time>.json and
# .md: the machine, its load, each figure and whether its target was met; `make bench-compare` compares two).
# First, refund applications per second next to the order detail read, under gunicorn on MariaDB + Redis.
# Starts MariaDB and Redis if they are down, builds a scratch database (dropped at the end, whatever happens),
# seeds customers and paid orders with bulk inserts, serves them with gunicorn on 127.0.0.1 and prints a table.
# Then, against the same server, applications on orders of their own arrive at a fixed rate, half the apply
# throughput just measured, whatever the answers (benchmarks/apply_open_loop.py): latency from the scheduled time.
#
# Knobs (environment): BENCH_ORDERS (3000), BENCH_CUSTOMERS (300), BENCH_CLIENTS (32), BENCH_PROCESSES (4),
# BENCH_SECONDS (15 per endpoint), BENCH_WORKERS (2 x cores + 1), MALL_BENCH_DB (mall_bench),
# BENCH_REDIS_URL (redis://127.0.0.1:6379/13: a Redis database of its own, emptied at the end),
# BENCH_PARTS (all; "apply" runs only this first part), BENCH_CLIENT (wrk where installed, else python: the
# load generator; BENCH_PROCESSES applies to python only), BENCH_ROUNDS (3 alternating GET/apply rounds, wrk only),
# BENCH_OPEN_SECONDS (30: the open-loop phase), BENCH_OPEN_ORDERS (3000 more orders for it: 9000 applications).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/services.sh

venv=${VENV:-.venv}
py="$venv/bin/python"
db=${MALL_BENCH_DB:-mall_bench}
redis_url=${BENCH_REDIS_URL:-redis://127.0.0.1:6379/13}
redis_db=${redis_url##*/}
cores=$(nproc)
# gunicorn's rule of thumb, 2 x cores + 1 sync workers (5 on a 2-core box): a worker waiting on MariaDB or
# Redis leaves the core to another one.
workers=${BENCH_WORKERS:-$((2 * cores + 1))}
port=$("$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
work=$(mktemp -d)
server_pid=""
# Every part hands its figures to one file (benchmarks/figures.py); the dated report is written from it at the
# end, whatever happens (var/bench/<UTC time>.json and .md; `make bench-compare` puts two side by side).
export BENCH_FIGURES="$work/figures.jsonl"
"$py" benchmarks/report.py begin --out "$work/machine.json"

cleanup() {
  if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid"
    for _ in $(seq 1 30); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.5; done
    kill -KILL "$server_pid" 2>/dev/null || true
  fi
  mysql --host=127.0.0.1 --user=root -e "DROP DATABASE IF EXISTS \`$db\`" || true
  redis-cli -h 127.0.0.1 -p 6379 -n "$redis_db" flushdb >/dev/null || true
  if [[ -s "$BENCH_FIGURES" ]]; then
    "$py" benchmarks/report.py write --machine "$work/machine.json" --figures "$BENCH_FIGURES" || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

export DJANGO_SETTINGS_MODULE=mall.settings
export DATABASE_URL="mysql://root@127.0.0.1:3306/$db"
export REDIS_URL="$redis_url"
export CACHE_KEY_PREFIX=mall-bench
# Production-like: DEBUG off (no SQL kept per request), plain HTTP on 127.0.0.1, quiet logs.
export DJANGO_DEBUG=0
export DJANGO_SECRET_KEY="bench-$("$py" -c 'import secrets; print(secrets.token_hex(16))')"
export SECURE_SSL_REDIRECT=0
export ALLOWED_HOSTS=127.0.0.1
export LOG_LEVEL=WARNING
export CHANNEL_SIMULATOR_ENABLED=0
# The per-customer application throttle stays on (its Redis round trip is part of the cost), just out of reach.
export REFUND_APPLY_THROTTLE=1000000/min

echo "== scratch database $db"
mysql --host=127.0.0.1 --user=root -e "DROP DATABASE IF EXISTS \`$db\`; CREATE DATABASE \`$db\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
redis-cli -h 127.0.0.1 -p 6379 -n "$redis_db" flushdb >/dev/null
"$py" manage.py migrate --no-input -v 0
"$py" benchmarks/refund_apply.py seed --orders "${BENCH_ORDERS:-3000}" --customers "${BENCH_CUSTOMERS:-300}" \
  --plan "$work/plan.json" --open-orders "${BENCH_OPEN_ORDERS:-3000}" --open-plan "$work/open-plan.json"

echo "== gunicorn: $workers workers on 127.0.0.1:$port"
"$venv/bin/gunicorn" mall.wsgi --workers "$workers" --bind "127.0.0.1:$port" --timeout 60 \
  --log-level warning >"$work/gunicorn.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 60); do
  if curl --silent --fail --max-time 2 "http://127.0.0.1:$port/healthz" >/dev/null; then break; fi
  if ! kill -0 "$server_pid" 2>/dev/null; then cat "$work/gunicorn.log" >&2; exit 1; fi
  sleep 0.5
done
curl --silent --fail --max-time 2 "http://127.0.0.1:$port/healthz" >/dev/null || {
  echo "gunicorn did not answer /healthz" >&2
  cat "$work/gunicorn.log" >&2
  exit 1
}

echo "== load"
status=0
"$py" benchmarks/refund_apply.py run --plan "$work/plan.json" --url "http://127.0.0.1:$port" \
  --clients "${BENCH_CLIENTS:-32}" --processes "${BENCH_PROCESSES:-4}" --seconds "${BENCH_SECONDS:-15}" \
  --workers "$workers" --server-pid "$server_pid" ${BENCH_CLIENT:+--client "$BENCH_CLIENT"} \
  --rounds "${BENCH_ROUNDS:-3}" --result "$work/closed-loop.json" || status=$?
if [[ -s "$work/closed-loop.json" ]]; then
  echo "== open loop: applications at a fixed rate, half the apply throughput above"
  "$py" benchmarks/apply_open_loop.py --plan "$work/open-plan.json" --url "http://127.0.0.1:$port" \
    --capacity "$work/closed-loop.json" --seconds "${BENCH_OPEN_SECONDS:-30}" --server-pid "$server_pid" || status=$?
else
  echo "== open loop skipped: the closed-loop rounds measured no capacity" >&2
  status=1
fi
if grep -q -E "Traceback|ERROR" "$work/gunicorn.log"; then
  echo "== server errors (last lines of the gunicorn log)"
  tail -n 40 "$work/gunicorn.log"
fi
[[ "${BENCH_PARTS:-all}" == apply ]] && exit "$status"

# Refund execution end to end: 2 RQ workers against the channel simulator, on a scratch database and a private
# redis-server (benchmarks/refund_execute.py; knobs MALL_BENCH_EXEC_DB, BENCH_EXEC_REDIS_URL, BENCH_EXEC_*).
echo "== refund execution: approved -> refunded with 2 RQ workers against the channel simulator"
"$py" benchmarks/refund_execute.py || status=$?

# The automatic approval sweep over a backlog of overdue refunds (scripts/bench_sweeps.sh: a scratch database and
# Redis db of its own; BENCH_REFUNDS, 100000 by default, sets the backlog).
echo "== auto-approval sweep over a backlog of overdue refunds"
scripts/bench_sweeps.sh || status=$?

# The console over a million refunds: queries and p50 / p95 of each page, and the same pages' query counts on a
# table of 10,000 (scripts/bench_console.sh; knobs BENCH_CONSOLE_REFUNDS, MALL_BENCH_CONSOLE_DB).
echo "== console at a million refunds"
scripts/bench_console.sh || status=$?

# Past one machine: two hosts' web and worker groups on this one, against one database, Redis and channel
# simulator (scripts/rehearsal.sh: a scratch database and a private redis-server of its own).
echo "== rehearsal: two hosts (web + worker group each) against one MariaDB, Redis and channel simulator"
scripts/rehearsal.sh || status=$?

# Reconciliation of a day's statement against as many refunds, for each channel in its own format, next to the floor
# (parsing alone + streaming alone), and the reports of a day with 100,000 discrepancies (scripts/bench_reconcile.sh:
# a scratch database of its own; BENCH_RECON_LINES, 1000000 by default, sets the statement's length).
echo "== reconciliation"
scripts/bench_reconcile.sh || status=$?
exit "$status"
