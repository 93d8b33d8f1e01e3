#!/usr/bin/env bash
# Reconciliation of a 1,000,000-line statement against 1,000,000 refunds, for each channel in its real format
# (Alipay zip of GBK CSV, WeChat Pay backtick CSV), on MariaDB: wall time, peak memory, the floor (parsing the
# file alone + streaming the refunds alone) and exact results; then the CSV and XLSX reports of a day with
# 100,000 discrepancies (benchmarks/reconcile_million.py). Targets: at most 3x the floor, at most 400 MB, exact;
# reports in at most 200 MB whatever their length.
# Starts MariaDB if it is down, builds a scratch database (dropped at the end, whatever happens), seeds it with
# bulk inserts and writes the statements to a temporary directory (removed at the end).
#
# Knobs (environment): BENCH_RECON_LINES (1000000 per channel), MALL_BENCH_RECON_DB (mall_bench_recon).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/services.sh

venv=${VENV:-.venv}
py="$venv/bin/python"
db=${MALL_BENCH_RECON_DB:-mall_bench_recon}
work=$(mktemp -d)

cleanup() {
  mysql --host=127.0.0.1 --user=root -e "DROP DATABASE IF EXISTS \`$db\`" || true
  rm -rf "$work"
}
trap cleanup EXIT

export DJANGO_SETTINGS_MODULE=mall.settings
export DATABASE_URL="mysql://root@127.0.0.1:3306/$db"
export REDIS_URL=""
export DJANGO_DEBUG=0
export DJANGO_SECRET_KEY="bench-$("$py" -c 'import secrets; print(secrets.token_hex(16))')"
export ALLOWED_HOSTS=testserver
export LOG_LEVEL=WARNING
# The adapters are built from the simulator's demo keys; the gateway's answer and the download are the files
# written here (nothing listens on the network).
export CHANNEL_SIMULATOR_ENABLED=1
export CHANNEL_SIMULATOR_KEYS_DIR="$work/keys"

echo "== scratch database $db"
mysql --host=127.0.0.1 --user=root -e "DROP DATABASE IF EXISTS \`$db\`; CREATE DATABASE \`$db\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
"$py" manage.py migrate --no-input -v 0
"$py" benchmarks/reconcile_million.py seed --lines "${BENCH_RECON_LINES:-1000000}" --work "$work"
echo "== reconciliation runs"
"$py" benchmarks/reconcile_million.py run --work "$work"
