#!/usr/bin/env bash
# The customer-service console over a table of a million refunds on MariaDB: the query count and p50 / p95 of the
# queue (plain, filtered, searched), the refund page and the dashboards (benchmarks/console_queue.py). The same
# pages are first measured on a table of 10,000, so that a query count that grows with the table shows.
# Targets: p50 under 300 ms for each page at a million; the same query count at both sizes.
#
# Knobs (environment): BENCH_CONSOLE_REFUNDS (1000000), BENCH_CONSOLE_SMALL (10000), BENCH_CONSOLE_REPEAT (30),
# MALL_BENCH_CONSOLE_DB (mall_bench_console; dropped at the end, whatever happens), BENCH_CONSOLE_REDIS_URL
# (redis://127.0.0.1:6379/12: the cache and sessions, emptied at the end).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/services.sh

venv=${VENV:-.venv}
py="$venv/bin/python"
db=${MALL_BENCH_CONSOLE_DB:-mall_bench_console}
redis_url=${BENCH_CONSOLE_REDIS_URL:-redis://127.0.0.1:6379/12}
redis_db=${redis_url##*/}
work=$(mktemp -d)

cleanup() {
  mysql --host=127.0.0.1 --user=root -e "DROP DATABASE IF EXISTS \`$db\`" || true
  redis-cli -h 127.0.0.1 -p 6379 -n "$redis_db" flushdb >/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

export DJANGO_SETTINGS_MODULE=mall.settings
export DATABASE_URL="mysql://root@127.0.0.1:3306/$db"
export REDIS_URL="$redis_url"
export CACHE_KEY_PREFIX=mall-bench-console
export DJANGO_DEBUG=0
export DJANGO_SECRET_KEY="bench-$("$py" -c 'import secrets; print(secrets.token_hex(16))')"
export SECURE_SSL_REDIRECT=0
# The pages are rendered in process by Django's test client, whose requests name the host "testserver".
export ALLOWED_HOSTS=testserver
export LOG_LEVEL=WARNING
export CHANNEL_SIMULATOR_ENABLED=0
# Production's static files (hashed names from the manifest), collected once into the work folder.
export STATIC_ROOT="$work/static"
"$py" manage.py collectstatic --no-input -v 0

fresh() {
  mysql --host=127.0.0.1 --user=root -e "DROP DATABASE IF EXISTS \`$db\`; CREATE DATABASE \`$db\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
  redis-cli -h 127.0.0.1 -p 6379 -n "$redis_db" flushdb >/dev/null
}

small=${BENCH_CONSOLE_SMALL:-10000}
large=${BENCH_CONSOLE_REFUNDS:-1000000}
repeat=${BENCH_CONSOLE_REPEAT:-30}
echo "== $small refunds"
fresh
"$py" benchmarks/console_queue.py seed --refunds "$small"
"$py" benchmarks/console_queue.py run --repeat 5 --save-counts "$work/counts.json"
echo "== $large refunds"
fresh
"$py" benchmarks/console_queue.py seed --refunds "$large"
"$py" benchmarks/console_queue.py run --repeat "$repeat" --counts-of "$work/counts.json"
