#!/usr/bin/env bash
# Every migration must apply and reverse cleanly: migrate a scratch database forward, back to zero, forward.
set -euo pipefail
cd "$(dirname "$0")/.."
scratch=${MALL_MIGRATION_DB:-mall_migrations_check}
mysql --host=127.0.0.1 --user=root -e "DROP DATABASE IF EXISTS \`$scratch\`; CREATE DATABASE \`$scratch\` CHARACTER SET utf8mb4"
export DATABASE_URL="mysql://root@127.0.0.1:3306/$scratch"
python manage.py migrate -v0
for app in reconciliation logistics payments notices refunds mall; do
  python manage.py migrate "$app" zero -v0
done
python manage.py migrate -v0
mysql --host=127.0.0.1 --user=root -e "DROP DATABASE \`$scratch\`"
echo "migrations: forward, back to zero and forward again: ok"
