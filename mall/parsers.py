"""The API's JSON parser: DRF's, refusing JSON nested deeper than ``mall.json_limits.MAX_JSON_DEPTH`` before it is
decoded (400 ``parse_error`` in the API's error shape)."""

from __future__ import annotations

import io
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
            return super().parse(io.BytesIO(data), media_type, parser_context)
        except RecursionError:
            raise ParseError(_("JSON nested deeper than %(limit)d levels.") % {"limit": MAX_JSON_DEPTH}) from None
