"""Payment channels: the refund port (``base``), its Alipay and WeChat Pay adapters, and the registry.

The only package that imports a payment SDK. Everyone else calls ``get_channel(code)`` and speaks the port.
"""

from payments.channels.base import (
    ChannelError,
    ChannelRejected,
    ChannelTemporaryError,
    NotificationInvalid,
    RefundChannel,
    RefundNotification,
    RefundRequest,
    RefundResult,
    RefundStatus,
    StatementLine,
    fen_to_yuan,
    parse_yuan,
    yuan_to_fen,
    yuan_to_str,
)
from payments.channels.registry import get_channel, notify_url

__all__ = [
    "ChannelError",
    "ChannelRejected",
    "ChannelTemporaryError",
    "NotificationInvalid",
    "RefundChannel",
    "RefundNotification",
    "RefundRequest",
    "RefundResult",
    "RefundStatus",
    "StatementLine",
    "fen_to_yuan",
    "get_channel",
    "notify_url",
    "parse_yuan",
    "yuan_to_fen",
    "yuan_to_str",
]
