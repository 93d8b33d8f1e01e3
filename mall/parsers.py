"""The API's JSON parser: DRF's, refusing JSON nested deeper than ``mall.json_limits.MAX_JSON_DEPTH`` before it is
decoded, and JSON whose strings are not Unicode text (400 ``parse_error`` in the API's error shape)."""

from __future__ import annotations

import io
import json
from typing import IO, Any

from django.utils.translation import gettext as _
from rest_framework import parsers
from rest_framework.exceptions import ParseError

from mall.json_limits import MAX_JSON_DEPTH, json_deeper_than


class JSONParser(parsers.JSONParser):
    def parse(self, stream: IO[Any], media_type: str | None = None, parser_context: Any = None) -> Any:
        data = stream.read()
        if json_deeper_than(data, MAX_JSON_DEPTH):
            raise ParseError(_("JSON nested deeper than %(limit)d levels.") % {"limit": MAX_JSON_DEPTH})
        try:
            parsed = super().parse(io.BytesIO(data), media_type, parser_context)
        except RecursionError:
            raise ParseError(_("JSON nested deeper than %(limit)d levels.") % {"limit": MAX_JSON_DEPTH}) from None
        # "\ud800" is valid JSON but no character: a string holding it cannot be stored, nor written back in an
        # answer (an error message that quotes it ended in a 500).
        try:
            json.dumps(parsed, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise ParseError(_("JSON strings must be Unicode text: a lone surrogate escape is not.")) from None
        return parsed
