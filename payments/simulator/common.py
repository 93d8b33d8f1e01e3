"""Small pieces the simulator's protocol modules share."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

CHINA_TZ = ZoneInfo("Asia/Shanghai")
CENT = Decimal("0.01")
CHANNELS = ("alipay", "wechat")
_YUAN = re.compile(r"^\d{1,10}(\.\d{1,2})?$")


@dataclass
class Reply:
    """One HTTP answer. ``delay`` holds it back (the timeout fault); ``chunks`` streams a file body."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    chunks: Iterable[bytes] | None = None
    content_length: int | None = None


def json_reply(status: int, payload: Any, headers: dict[str, str] | None = None) -> Reply:
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return Reply(status, body, {"Content-Type": "application/json; charset=utf-8", **(headers or {})})


def now() -> datetime:
    return datetime.now(UTC)


def china_time(moment: datetime) -> str:
    """``2026-01-05 10:00:00``: how Alipay writes times (Beijing time, no zone)."""
    return moment.astimezone(CHINA_TZ).isoformat(sep=" ", timespec="seconds")[:19]


def rfc3339(moment: datetime) -> str:
    """``2026-01-05T10:00:00+08:00``: how WeChat Pay writes times."""
    return moment.astimezone(CHINA_TZ).replace(microsecond=0).isoformat()


def parse_yuan(text: str) -> Decimal | None:
    """A strict yuan amount as a gateway accepts it: digits, at most two decimals, positive."""
    if not isinstance(text, str) or not _YUAN.match(text):
        return None
    value = Decimal(text).quantize(CENT)
    return value if value > 0 else None


def fen(amount: Decimal) -> int:
    return int((amount * 100).to_integral_value())


def yuan(amount: Decimal) -> str:
    return f"{amount.quantize(CENT):f}"
