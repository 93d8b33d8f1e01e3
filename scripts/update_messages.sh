#!/usr/bin/env bash
# Refresh the Simplified Chinese catalogue after adding or changing user-facing strings:
#   1. makemessages collects every marked string into locale/zh_Hans/LC_MESSAGES/django.po (existing
#      translations are kept; new strings arrive with an empty msgstr, near-matches marked "fuzzy");
#   2. compilemessages builds django.mo, which is committed with the .po (a fresh clone needs it at run time);
#   3. the strings still untranslated or fuzzy are listed: translate them in the .po and run this again.
#   scripts/update_messages.sh           refresh, compile, list what is left
#   scripts/update_messages.sh --check   also fail when anything is left untranslated or fuzzy
set -euo pipefail
cd "$(dirname "$0")/.."
python=${VENV:-.venv}/bin/python
catalogue=locale/zh_Hans/LC_MESSAGES/django.po
ignore=(--ignore=.venv --ignore=var --ignore=node_modules --ignore=test-artifacts)

if ! command -v msgfmt >/dev/null; then
  echo "update_messages: gettext is missing (scripts/bootstrap.sh installs it)" >&2
  exit 1
fi
"$python" manage.py makemessages -l zh_Hans "${ignore[@]}"
"$python" manage.py compilemessages -l zh_Hans "${ignore[@]}"

untranslated=$(msgattrib --untranslated --no-obsolete --no-wrap "$catalogue" | grep -c '^msgid "' || true)
fuzzy=$(msgattrib --only-fuzzy --no-obsolete --no-wrap "$catalogue" | grep -c '^msgid "' || true)
# Each listing starts with the header entry (msgid ""), which is not a string to translate.
untranslated=$(( untranslated > 0 ? untranslated - 1 : 0 ))
fuzzy=$(( fuzzy > 0 ? fuzzy - 1 : 0 ))
if [ "$untranslated" -eq 0 ] && [ "$fuzzy" -eq 0 ]; then
  echo "update_messages: $catalogue: every string is translated"
  exit 0
fi
echo "update_messages: $catalogue: $untranslated untranslated, $fuzzy fuzzy:"
{ msgattrib --untranslated --no-obsolete --no-wrap "$catalogue"; msgattrib --only-fuzzy --no-obsolete --no-wrap "$catalogue"; } \
  | grep '^msgid "' | grep -v '^msgid ""$' | sed 's/^msgid /  /'
[ "${1:-}" = --check ] && exit 1
exit 0
