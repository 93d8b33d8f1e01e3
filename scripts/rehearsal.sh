#!/usr/bin/env bash
# Two hosts on one machine: two web processes and two worker groups, each started from the Procfile with
# its own port, work dir and metrics directory, against one scratch MariaDB database, one private redis-server and
# the channel simulator. Customers apply through both web ports; the run checks the money rules and that both hosts
# took work, prints the figures and exits non-zero if a rule broke (benchmarks/rehearsal.py says what and how).
#
# Needs MariaDB on 127.0.0.1 (started if down) and redis-server on PATH. Everything it starts it stops by pid, and it
# drops its database, whatever happens. Knobs (environment): MALL_REHEARSAL_DB (mall_rehearsal), REHEARSAL_ORDERS
# (300), REHEARSAL_WORKERS (1 per host), REHEARSAL_WEB_CONCURRENCY (2), REHEARSAL_CLIENTS (8), REHEARSAL_TIMEOUT
# (180 s); arguments are passed on (`scripts/rehearsal.sh --help`).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/services.sh
exec "${VENV:-.venv}/bin/python" benchmarks/rehearsal.py "$@"
