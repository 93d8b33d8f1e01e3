#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs what it needs, starts MariaDB and Redis if they are
# down, lints, checks migrations, runs the tests on MariaDB + Redis, then again on the embedded SQLite default.
# Extra arguments go to pytest (both runs).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh dev
scripts/services.sh

venv=${VENV:-.venv}
export DJANGO_SETTINGS_MODULE=mall.settings
export PATH="$PWD/$venv/bin:$PATH"
db=${MALL_TEST_DB:-mall_ci}
mysql --host=127.0.0.1 --user=root -e "CREATE DATABASE IF NOT EXISTS \`$db\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
export DATABASE_URL="mysql://root@127.0.0.1:3306/$db"
export REDIS_URL="${TEST_REDIS_URL:-redis://127.0.0.1:6379/15}"

echo "== lint"
ruff check .
ruff format --check .
echo "== architecture (import contracts, .importlinter)"
lint-imports
echo "== types (strict for mall, refunds, notices, payments, reconciliation and logistics)"
mypy --cache-dir var/mypy-cache mall refunds notices payments reconciliation logistics
echo "== migrations"
python manage.py check
python manage.py makemigrations --check --dry-run
scripts/check_migrations.sh
scripts/check_alert_rules.sh
echo "== tests on MariaDB + Redis"
python -c "from django.conf import settings; import django; django.setup(); print('database backend:', settings.DATABASES['default']['ENGINE'])"
pytest -p no:cacheprovider "$@"
echo "== tests on the embedded defaults (SQLite, no Redis)"
DATABASE_URL= REDIS_URL= timeout 600 pytest -p no:cacheprovider -m "not services and not slow and not browser" "$@"
