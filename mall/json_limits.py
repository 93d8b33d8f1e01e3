"""JSON read from outside with a bound on nesting (plain Python: the carrier adapter and the API's parser use it).

Python's decoder recurses once per level: a body of a hundred thousand ``[`` exhausts the interpreter's recursion
limit and the request ends in a 500. No message this shop reads (the API's bodies, carrier and channel
notifications) nests more than a few levels, so anything deeper than ``MAX_JSON_DEPTH`` is refused before decoding,
by a scan of the raw bytes that neither recurses nor builds anything.
"""

from __future__ import annotations

import json
import re
from array import array
from itertools import accumulate
from typing import Any

MAX_JSON_DEPTH = 32

# A JSON string, escapes included: its brackets are text, not structure. DOTALL so that an escaped raw newline in a
# malformed body cannot end the match early.
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_BRACKETS = b"[]{}"
# Openers become 1 and closers -1 (0xff read as a signed byte); every other byte is dropped.
_STEPS = bytes.maketrans(_BRACKETS, b"\x01\xff\x01\xff")
_NOT_BRACKETS = bytes(b for b in range(256) if b not in _BRACKETS)


class JSONTooDeep(ValueError):
    def __init__(self, limit: int) -> None:
        super().__init__(f"JSON nested deeper than {limit} levels")
        self.limit = limit


def json_depth(data: bytes | str) -> int:
    """How deep the arrays and objects of ``data`` nest (0 for a scalar), counted without decoding it. Malformed
    input gets a number too; the decoder refuses it afterwards."""
    raw = _bytes(data)
    if b"[" not in raw and b"{" not in raw:
        return 0
    steps = array("b", _STRING.sub(b"", raw).translate(_STEPS, _NOT_BRACKETS))
    return max(0, max(accumulate(steps), default=0))


def json_deeper_than(data: bytes | str, limit: int) -> bool:
    raw = _bytes(data)
    # Most bodies have fewer brackets in all than the limit: no need to look where they are.
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False
    return json_depth(raw) > limit


def _bytes(data: bytes | str) -> bytes:
    return data.encode("utf-8", "surrogatepass") if isinstance(data, str) else bytes(data)


def json_loads(data: bytes | str, *, max_depth: int = MAX_JSON_DEPTH, **options: Any) -> Any:
    """``json.loads`` for what arrives from outside: raises ``JSONTooDeep`` (a ``ValueError``, as any other
    malformed JSON) instead of running out of stack."""
    if json_deeper_than(data, max_depth):
        raise JSONTooDeep(max_depth)
    try:
        return json.loads(data, **options)
    except RecursionError:
        raise JSONTooDeep(max_depth) from None
