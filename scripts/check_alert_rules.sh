#!/usr/bin/env bash
# The Prometheus alert rules load (promtool check rules, check config) and behave as intended (promtool test
# rules on deploy/prometheus/alerts_test.yml). promtool comes from Debian's prometheus package, unpacked (not
# installed, so no Prometheus server is set up) and only promtool kept in var/tools/ on first use.
set -euo pipefail
cd "$(dirname "$0")/.."
cache="$PWD/var/tools"
promtool="$cache/promtool"

if [ ! -x "$promtool" ]; then
  echo "alert rules: fetching promtool (Debian package prometheus) into ${cache#"$PWD"/}"
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  download=$(mktemp -d)
  trap 'rm -rf "$download"' EXIT
  # apt-get download needs the package lists; fetch them only when the package is not known yet.
  if ! (cd "$download" && apt-get download -qq prometheus >/dev/null 2>&1); then
    $sudo_cmd apt-get update -qq
    (cd "$download" && apt-get download -qq prometheus >/dev/null)
  fi
  dpkg-deb -x "$download"/prometheus_*.deb "$download/root"
  install -D -m 0755 "$download/root/usr/bin/promtool" "$promtool"
fi

"$promtool" check rules deploy/prometheus/alerts.yml
"$promtool" check config deploy/prometheus/prometheus.yml
# Rule files named in the test file are found relative to it.
(cd deploy/prometheus && "$promtool" test rules alerts_test.yml)
echo "alert rules: checked and unit-tested: ok"
