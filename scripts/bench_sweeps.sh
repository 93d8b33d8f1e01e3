#!/usr/bin/env bash
# The automatic approval sweep over a backlog of refunds waiting past their due time (100,000 by default) on
# MariaDB + Redis: wall time and peak memory. Target: under 60 s and under 200 MB.
# Starts MariaDB and Redis if they are down, builds a scratch database (dropped at the end, whatever happens),
# seeds it with bulk inserts, then runs the sweep in a fresh process and prints the figures and the machine.
#
# Knobs (environment): BENCH_REFUNDS (100000), MALL_BENCH_SWEEPS_DB (mall_bench_sweeps),
# BENCH_SWEEPS_REDIS_URL (redis://127.0.0.1:6379/12: a Redis database of its own, emptied at the end; the
# approvals hand their refund jobs to it as in production).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/services.sh

venv=${VENV:-.venv}
py="$venv/bin/python"
db=${MALL_BENCH_SWEEPS_DB:-mall_bench_sweeps}
redis_url=${BENCH_SWEEPS_REDIS_URL:-redis://127.0.0.1:6379/12}
redis_db=${redis_url##*/}

cleanup() {
  mysql --host=127.0.0.1 --user=root -e "DROP DATABASE IF EXISTS \`$db\`" || true
  redis-cli -h 127.0.0.1 -p 6379 -n "$redis_db" flushdb >/dev/null || true
}
trap cleanup EXIT

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
redis-cli -h 127.0.0.1 -p 6379 -n "$redis_db" flushdb >/dev/null
"$py" manage.py migrate --no-input -v 0
"$py" benchmarks/auto_approve.py seed --refunds "${BENCH_REFUNDS:-100000}"
echo "== auto-approval sweep"
"$py" benchmarks/auto_approve.py run
