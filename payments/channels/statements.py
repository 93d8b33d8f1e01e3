"""Statement downloads: spooled to a temporary file (never held in memory), then read line by line."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import IO

import requests

from mall.shoptime import SHOP_TZ
from payments.channels.base import ChannelError, ChannelTemporaryError

CHUNK_BYTES = 64 * 1024
# A day's statement far beyond any real day of this shop is refused rather than filling the disk.
MAX_STATEMENT_BYTES = 4 * 1024**3


@contextmanager
def spooled_download(
    url: str, *, channel: str, timeout: float, headers: Mapping[str, str] | None = None
) -> Iterator[IO[bytes]]:
    """GET ``url`` into an anonymous temporary file and yield it, rewound. The file vanishes afterwards."""
    if not url.startswith(("https://", "http://")):
        raise ChannelError("statement download address is not http(s)", channel=channel)
    with tempfile.TemporaryFile() as spool:
        try:
            with requests.get(url, headers=dict(headers or {}), stream=True, timeout=timeout) as response:
                if response.status_code >= 500 or response.status_code == 429:
                    raise ChannelTemporaryError(f"statement download answered {response.status_code}", channel=channel)
                if response.status_code >= 400:
                    raise ChannelError(f"statement download answered {response.status_code}", channel=channel)
                size = 0
                for chunk in response.iter_content(CHUNK_BYTES):
                    size += len(chunk)
                    if size > MAX_STATEMENT_BYTES:
                        raise ChannelError("statement larger than the allowed maximum", channel=channel)
                    spool.write(chunk)
        except requests.RequestException as exc:
            raise ChannelTemporaryError(f"statement download failed: {type(exc).__name__}", channel=channel) from exc
        spool.seek(0)
        yield spool


def china_datetime(text: str) -> datetime | None:
    """``2026-01-05 10:00:00`` (optionally with milliseconds), Beijing time, as an aware datetime."""
    text = text.strip()
    if not text:
        return None
    for pattern in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M:%S.%f"):
        try:
            return datetime.strptime(text, pattern).replace(tzinfo=SHOP_TZ)
        except ValueError:
            continue
    raise ValueError(f"not a time: {text!r}")
