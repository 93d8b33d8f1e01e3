"""WeChat Pay refunds through wechatpayv3 (API v3), in platform-public-key mode.

Public-key mode (``public_key`` + ``public_key_id``) verifies answers and notifications without downloading
platform certificates. Money is integer fen. Refund notifications carry an AES-256-GCM sealed resource.
"""

from __future__ import annotations

import csv
import functools
import gzip
import hashlib
import io
import json
import logging
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import IO, Any, TypeGuard

import requests
from django.core.exceptions import ImproperlyConfigured
from wechatpayv3 import WeChatPay, WeChatPayType
from wechatpayv3.utils import build_authorization

from payments.channels.base import (
    NOTIFICATION_MAX_AGE_SECONDS,
    ChannelError,
    ChannelRejected,
    ChannelTemporaryError,
    NotificationInvalid,
    RefundNotification,
    RefundRequest,
    RefundResult,
    RefundStatus,
    StatementLine,
    fen_to_yuan,
    mask_raw,
    parse_yuan,
    yuan_to_fen,
)
from payments.channels.statements import CHUNK_BYTES, china_datetime, spooled_download

logger = logging.getLogger(__name__)

CODE = "wechat"
SIGNATURE_TYPE = "WECHATPAY2-SHA256-RSA2048"
MAX_TIMESTAMP_DIGITS = 12  # seconds since the epoch: 10 digits until the year 2286
# Business codes that mean "busy, try again with the same out_refund_no". NOT_ENOUGH is the merchant's
# balance running short: the refund can go through once it is topped up, so it is not a final refusal.
TEMPORARY_CODES = frozenset({"SYSTEM_ERROR", "SYSTEMERROR", "FREQUENCY_LIMITED", "NOT_ENOUGH", "BIZERR_NEED_RETRY"})
_STATUS = {
    "SUCCESS": RefundStatus.SUCCESS,
    "PROCESSING": RefundStatus.PROCESSING,
    "CLOSED": RefundStatus.CLOSED,
    "REFUNDCLOSE": RefundStatus.CLOSED,
    # ABNORMAL: the money could not reach the payer (e.g. a closed card); it needs a person, not a retry.
    "ABNORMAL": RefundStatus.FAILED,
    "CHANGE": RefundStatus.FAILED,
}
_EVENT_STATUS = {"REFUND.SUCCESS": "SUCCESS", "REFUND.CLOSED": "CLOSED", "REFUND.ABNORMAL": "ABNORMAL"}
_NOTIFY_HEADERS = ("Signature", "Timestamp", "Nonce", "Serial", "Signature-Type")
SUMMARY_FIRST_COLUMN = "总交易单数"


@dataclass(frozen=True)
class WechatSettings:
    mch_id: str
    app_id: str
    cert_serial_no: str
    public_key_id: str
    gateway: str
    notify_url: str
    timeout: float
    statement_timeout: float
    private_key: str = field(repr=False)
    public_key: str = field(repr=False)
    api_v3_key: str = field(repr=False)

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> WechatSettings:
        """From the channel's options in ``PAYMENT_CHANNELS``, as the registry makes them ready."""
        if len(options["api_v3_key"].encode()) != 32:
            raise ImproperlyConfigured("WECHAT_API_V3_KEY must be the 32-character API v3 key")
        return cls(
            mch_id=options["mch_id"],
            app_id=options["app_id"],
            cert_serial_no=options["cert_serial_no"],
            public_key_id=options["public_key_id"],
            gateway=options["gateway"],
            notify_url=options["notify_url"],
            timeout=options["timeout"],
            statement_timeout=options["statement_timeout"],
            private_key=options["private_key"],
            public_key=options["public_key"],
            api_v3_key=options["api_v3_key"],
        )


class WechatChannel:
    code = CODE
    # The options it cannot work without, the merchant's id first.
    REQUIRED_OPTIONS = (
        "mch_id",
        "app_id",
        "cert_serial_no",
        "public_key_id",
        "private_key",
        "public_key",
        "api_v3_key",
    )

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> WechatChannel:
        return cls(WechatSettings.from_options(options))

    def __init__(self, config: WechatSettings) -> None:
        self._config = config
        self._gateway = config.gateway.rstrip("/")
        self._client = self._sdk_client(config.timeout)

    @functools.cached_property
    def _statement_client(self) -> WeChatPay:
        """Statements are batch work with a patience of their own; refund calls must fail fast. Built on first
        use: the processes that refund never download a statement."""
        return self._sdk_client(self._config.statement_timeout)

    def _sdk_client(self, timeout: float) -> WeChatPay:
        config = self._config
        client = WeChatPay(
            wechatpay_type=WeChatPayType.NATIVE,
            mchid=config.mch_id,
            private_key=config.private_key,
            cert_serial_no=config.cert_serial_no,
            appid=config.app_id,
            apiv3_key=config.api_v3_key,
            notify_url=config.notify_url or None,
            timeout=timeout,
            public_key=config.public_key,
            public_key_id=config.public_key_id,
        )
        client._core._gate_way = self._gateway
        return client

    def __repr__(self) -> str:
        return f"<WechatChannel mch_id={self._config.mch_id} gateway={self._gateway}>"

    # --- refunds --------------------------------------------------------------------------------------------
    def refund(self, req: RefundRequest) -> RefundResult:
        amount = {"refund": yuan_to_fen(req.amount), "total": yuan_to_fen(req.total_amount), "currency": "CNY"}
        status, answer = self._call(
            "refund",
            lambda: self._client.refund(
                out_refund_no=req.out_refund_no,
                amount=amount,
                transaction_id=req.trade_no or None,
                out_trade_no=None if req.trade_no else req.out_trade_no,
                reason=req.reason[:80] or None,
                notify_url=self._config.notify_url or None,
            ),
        )
        if status != 200:
            raise self._error("refund", status, answer)
        return self._result(answer, req.out_refund_no)

    def query_refund(self, *, out_trade_no: str, trade_no: str, out_refund_no: str) -> RefundResult:
        status, answer = self._call("query", lambda: self._client.query_refund(out_refund_no=out_refund_no))
        if status == 404 and answer.get("code") == "RESOURCE_NOT_EXISTS":
            return RefundResult(RefundStatus.NOT_FOUND, out_refund_no, raw=mask_raw(answer))
        if status != 200:
            raise self._error("query", status, answer)
        return self._result(answer, out_refund_no)

    def _result(self, answer: Mapping[str, Any], out_refund_no: str) -> RefundResult:
        if answer.get("out_refund_no") != out_refund_no:
            raise ChannelTemporaryError("answer is about another refund", channel=CODE)
        status = _STATUS.get(str(answer.get("status")))
        if status is None:
            raise ChannelTemporaryError(f"unknown refund status {answer.get('status')!r}", channel=CODE)
        return RefundResult(
            status=status,
            out_refund_no=out_refund_no,
            channel_refund_id=str(answer.get("refund_id") or "") or None,
            amount=_fen(answer.get("amount", {}).get("refund")),
            raw=mask_raw(answer),
            fund_change=None,
            succeeded_at=_rfc3339(answer.get("success_time")) if status == RefundStatus.SUCCESS else None,
            channel_status=str(answer.get("status")),
        )

    # --- notifications --------------------------------------------------------------------------------------
    def parse_notification(self, headers: Mapping[str, str], body: bytes) -> RefundNotification:
        signed = _notification_headers(headers)
        if signed["Wechatpay-Signature-Type"] != SIGNATURE_TYPE:
            raise NotificationInvalid("unsupported signature type")
        # Any other serial would make the SDK fetch platform certificates from the network: refuse it first.
        if signed["Wechatpay-Serial"] != self._config.public_key_id:
            raise NotificationInvalid("signed with an unknown key")
        # Seconds since the epoch in ASCII digits (int() also takes "-", "+", "_" and other scripts' digits, and a
        # number too long for a float's comparison with the clock).
        raw_stamp = signed["Wechatpay-Timestamp"]
        if not (raw_stamp.isascii() and raw_stamp.isdigit()) or len(raw_stamp) > MAX_TIMESTAMP_DIGITS:
            raise NotificationInvalid("malformed timestamp")
        stamp = int(raw_stamp)
        if abs(time.time() - stamp) > NOTIFICATION_MAX_AGE_SECONDS:
            raise NotificationInvalid("notification is stale")
        try:
            message = self._client.callback(signed, body)
        except Exception as exc:  # the SDK raises bare Exception on malformed messages
            raise NotificationInvalid("notification could not be read") from exc
        if not isinstance(message, dict) or not isinstance(message.get("resource"), dict):
            raise NotificationInvalid("signature does not verify or resource does not decrypt")
        resource: dict[str, Any] = message["resource"]
        if resource.get("mchid") != self._config.mch_id:
            raise NotificationInvalid("notification for another merchant")
        channel_status = str(resource.get("refund_status", ""))
        if _EVENT_STATUS.get(str(message.get("event_type"))) != channel_status or channel_status not in _STATUS:
            raise NotificationInvalid("event type and refund status disagree")
        out_refund_no = resource.get("out_refund_no")
        refund_fen = (resource.get("amount") or {}).get("refund")
        if not isinstance(out_refund_no, str) or not out_refund_no or not _is_fen(refund_fen):
            raise NotificationInvalid("refund number or amount missing")
        raw = {k: message.get(k) for k in ("id", "create_time", "event_type", "summary")} | {"resource": resource}
        return RefundNotification(
            out_refund_no=out_refund_no,
            channel_refund_id=str(resource.get("refund_id") or "") or None,
            status=_STATUS[channel_status],
            amount=fen_to_yuan(refund_fen),
            raw=mask_raw(raw),
            succeeded_at=_rfc3339(resource.get("success_time")) if channel_status == "SUCCESS" else None,
            channel_status=channel_status,
        )

    # --- statements -----------------------------------------------------------------------------------------
    def fetch_statement(self, day: date) -> Iterator[StatementLine]:
        status, answer = self._call(
            "statement",
            lambda: self._statement_client.trade_bill(bill_date=day.isoformat(), bill_type="REFUND", tar_type="GZIP"),
        )
        if status == 400 and answer.get("code") == "NO_STATEMENT_EXIST":
            return
        if status != 200:
            raise self._error("statement", status, answer)
        url = str(answer.get("download_url") or "")
        # The download is signed like any API call: never send that signature to another host.
        if not url.startswith(self._gateway + "/"):
            raise ChannelError("statement download address is not on the gateway", channel=CODE)
        path = url[len(self._gateway) :]
        core = self._client._core
        authorization = build_authorization(
            path, "GET", self._config.mch_id, self._config.cert_serial_no, core._private_key
        )
        headers = {"Authorization": authorization, "Accept": "application/json"}
        with (
            spooled_download(url, channel=CODE, timeout=self._config.statement_timeout, headers=headers) as spool,
            tempfile.TemporaryFile() as plain,
        ):
            digest = _unpack(spool, plain)
            if answer.get("hash_type", "SHA1") == "SHA1" and digest != str(answer.get("hash_value", "")).lower():
                raise ChannelTemporaryError("statement file does not match its hash", channel=CODE)
            plain.seek(0)
            yield from parse_bill(io.TextIOWrapper(plain, encoding="utf-8-sig", newline=""))

    # --- plumbing -------------------------------------------------------------------------------------------
    def _call(self, operation: str, call: Callable[[], tuple[int, Any]]) -> tuple[int, dict[str, Any]]:
        try:
            status, text = call()
        except requests.RequestException as exc:
            raise ChannelTemporaryError(f"{operation}: {type(exc).__name__}", channel=CODE) from exc
        except Exception as exc:  # the SDK raises bare Exception when an answer's signature fails
            raise ChannelTemporaryError(f"{operation}: answer not verified", channel=CODE) from exc
        if isinstance(text, bytes):
            text = text.decode("utf-8", errors="replace")
        try:
            answer = json.loads(text) if text else {}
        except ValueError:
            answer = {}
        if not isinstance(answer, dict):
            answer = {}
        if status == 200 and not answer:
            raise ChannelTemporaryError(f"{operation}: unreadable answer", channel=CODE)
        return int(status), answer

    @staticmethod
    def _error(operation: str, status: int, answer: Mapping[str, Any]) -> ChannelError:
        code, message = str(answer.get("code") or ""), str(answer.get("message") or "")
        if status >= 500 or status == 429 or code in TEMPORARY_CODES or not code:
            return ChannelTemporaryError(f"{operation}: HTTP {status} {message}".strip(), channel=CODE, code=code)
        return ChannelRejected(message or operation, channel=CODE, code=code)


def _notification_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The five signed headers under their canonical names, however the web framework spelled them."""
    lowered = {str(k).lower().replace("_", "-"): str(v) for k, v in headers.items()}
    out = {}
    for suffix in _NOTIFY_HEADERS:
        name = f"Wechatpay-{suffix}"
        value = lowered.get(name.lower()) or lowered.get("http-" + name.lower())
        if not value:
            raise NotificationInvalid(f"header {name} missing")
        out[name] = value
    return out


def _unpack(spool: IO[bytes], plain: IO[bytes]) -> str:
    """Copy the (possibly gzipped) bill into ``plain``; returns the SHA1 of the plain bytes."""
    digest = hashlib.sha1()  # noqa: S324 - the channel's integrity check, not a security boundary
    gzipped = spool.read(2) == b"\x1f\x8b"
    spool.seek(0)
    source: IO[bytes] = gzip.GzipFile(fileobj=spool) if gzipped else spool  # type: ignore[assignment]
    try:
        while chunk := source.read(CHUNK_BYTES):
            digest.update(chunk)
            plain.write(chunk)
    except (OSError, EOFError) as exc:
        raise ChannelTemporaryError("statement file is damaged", channel=CODE) from exc
    return digest.hexdigest()


def parse_bill(text: IO[str]) -> Iterator[StatementLine]:
    """Refund rows of a WeChat Pay bill: every cell starts with a backtick; a summary section ends it."""
    rows = csv.reader(text)
    header = next(rows, None)
    if header is None:
        return
    index = {name.strip().lstrip("`"): i for i, name in enumerate(header)}
    needed = ("微信订单号", "商户订单号", "微信退款单号", "商户退款单号", "退款金额", "退款状态")
    missing = [name for name in needed if name not in index]
    if missing:
        raise ChannelError(f"statement columns missing: {', '.join(missing)}", channel=CODE)
    for row in rows:
        cells = [cell.strip().removeprefix("`") for cell in row]
        if cells and cells[0] == SUMMARY_FIRST_COLUMN:
            return
        if len(cells) < len(header):
            continue
        moment = cells[index["退款成功时间"]] if "退款成功时间" in index else ""
        if not moment and "退款申请时间" in index:
            moment = cells[index["退款申请时间"]]
        yield StatementLine(
            out_trade_no=cells[index["商户订单号"]],
            trade_no=cells[index["微信订单号"]],
            out_refund_no=cells[index["商户退款单号"]],
            channel_refund_id=cells[index["微信退款单号"]] or None,
            amount=parse_yuan(cells[index["退款金额"]]),
            status=_STATUS.get(cells[index["退款状态"]], RefundStatus.FAILED),
            refunded_at=china_datetime(moment),
        )


def _is_fen(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _fen(value: Any) -> Decimal:
    if not _is_fen(value):
        raise ChannelTemporaryError(f"unreadable amount {value!r}", channel=CODE)
    return fen_to_yuan(value)


def _rfc3339(value: Any) -> datetime | None:
    """An RFC 3339 time with its offset, as WeChat Pay writes them; None if absent, malformed or without offset."""
    try:
        moment = datetime.fromisoformat(str(value)) if value else None
    except ValueError:
        return None
    return moment if moment is not None and moment.tzinfo is not None else None
