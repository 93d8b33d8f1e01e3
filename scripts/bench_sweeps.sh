#!/usr/bin/env bash
# The automatic approval sweep over a backlog of refunds waiting past their due time (100,000 by default) on
# MariaDB + Redis: wall time and peak memory. Target: under 60 s and under 200 MB.
# Starts MariaDB and Redis if they are down, builds a scratch database (dropped at the end, whatever happens),
# seeds it with bulk inserts, then runs the sweep in a fresh process and prints the figures and the machine.
#
# Knobs (environment): BENCH_REFUNDS (100000), MALL_BENCH_SWEEPS_DB (mall_bench_sweeps),
# BENCH_SWEEPS_REDIS_URL (default: a private redis-server on a free 127.0.0.1 port, stopped at the end; the
# approvals hand their refund jobs to it as in production, and no worker of another run can take them).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/services.sh

venv=${VENV:-.venv}
py="$venv/bin/python"
db=${MALL_BENCH_SWEEPS_DB:-mall_bench_sweeps}
redis_pid=""

cleanup() {
  mysql --host=127.0.0.1 --user=root -e "DROP DATABASE IF EXISTS \`$db\`" || true
  if [[ -n "$redis_pid" ]]; then kill "$redis_pid" 2>/dev/null || true; fi
}
trap cleanup EXIT

if [[ -n "${BENCH_SWEEPS_REDIS_URL:-}" ]]; then
  redis_url=$BENCH_SWEEPS_REDIS_URL
else
  port=$("$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
  redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no >/dev/null &
  redis_pid=$!
  for _ in $(seq 1 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.2; done
  redis_url="redis://127.0.0.1:$port/0"
fi

export DJANGO_SETTINGS_MODULE=mall.settings
export DATABASE_URL="mysql://root@127.0.0.1:3306/$db"
export REDIS_URL="$redis_url"
export CACHE_KEY_PREFIX=mall-bench-sweeps
export DJANGO_DEBUG=0
export DJANGO_SECRET_KEY="bench-$("$py" -c 'import secrets; print(secrets.token_hex(16))')"
export LOG_LEVEL=WARNING
export CHANNEL_SIMULATOR_ENABLED=0

echo "== scratch database $db"
mysql --host=127.0.0.1 --user=root -e "DROP DATABASE IF EXISTS \`$db\`; CREATE DATABASE \`$db\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
"$py" manage.py migrate --no-input -v 0
"$py" benchmarks/auto_approve.py seed --refunds "${BENCH_REFUNDS:-100000}"
echo "== auto-approval sweep"
"$py" benchmarks/auto_approve.py run
