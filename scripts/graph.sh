#!/usr/bin/env bash
# Draw the refund and order state machines into docs/ (English labels: the SVG is for engineers).
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/python - <<'PY'
import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mall.settings")
django.setup()
from django.core.management import call_command
from django.utils import translation

with translation.override("en"):
    call_command("graph_transitions", "refunds.Refund", output="docs/refund_states.svg")
    call_command("graph_transitions", "mall.Order", output="docs/order_states.svg")
PY
rm -f docs/refund_states docs/order_states
