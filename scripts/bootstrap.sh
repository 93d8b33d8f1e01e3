#!/usr/bin/env bash
# Prepare a fresh Debian machine: the system packages mysqlclient needs, a virtualenv, and the pinned
# Python packages. Safe to run again: each step is skipped when already done.
#   scripts/bootstrap.sh          runtime packages (requirements.txt)
#   scripts/bootstrap.sh dev      runtime + test/tooling packages (requirements-dev.txt)
set -euo pipefail
cd "$(dirname "$0")/.."
profile=${1:-runtime}
venv=${VENV:-.venv}
python=${PYTHON:-python3}

need=()
for pkg in build-essential pkg-config python3-dev libmariadb-dev gettext; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
if [ "$profile" = dev ]; then
  # chromium and fonts-noto-cjk: the browser tests (tests/browser/) drive Debian's chromium in Chinese, and without
  # CJK fonts every Chinese character is a box; wrk: the load generator of scripts/bench.sh
  # (benchmarks/refund_apply.py); docker-compose: tests/test_deploy.py has the compose CLI check docker-compose.yml
  # (config, refusal without secrets); nginx-light: the same tests run deploy/nginx/fruit-mall.conf (nginx -t, then
  # on free ports of 127.0.0.1 with a test certificate)
  for pkg in chromium fonts-noto-cjk graphviz wrk docker-compose nginx-light; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
  done
fi
if [ ${#need[@]} -gt 0 ]; then
  echo "bootstrap: installing Debian packages: ${need[*]}"
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${need[@]}" >/dev/null
fi

[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
req=requirements.txt
[ "$profile" = dev ] && req=requirements-dev.txt
stamp="$venv/.installed-$profile"
if [ ! -f "$stamp" ] || [ requirements.txt -nt "$stamp" ] || [ "$req" -nt "$stamp" ]; then
  "$venv/bin/pip" install -q --disable-pip-version-check --upgrade pip
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$req"
  touch "$stamp"
fi
