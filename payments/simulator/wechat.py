"""WeChat Pay API v3: JSON over HTTPS, requests signed in ``Authorization``, answers signed in headers.

Request signature: ``METHOD\\nPATH?QUERY\\nTIMESTAMP\\nNONCE\\nBODY\\n`` with the merchant's key
(WECHATPAY2-SHA256-RSA2048). Answer signature: ``TIMESTAMP\\nNONCE\\nBODY\\n`` with the platform key,
identified by the public key id in ``Wechatpay-Serial``.
"""

from __future__ import annotations

import json
import re
import secrets
import time
import uuid
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any, TypeGuard
from urllib.parse import parse_qs, urlsplit

from payments.simulator import crypto
from payments.simulator.common import Reply, fen, now, rfc3339
from payments.simulator.keys import SimulatorKeys
from payments.simulator.ledger import PROCESSING, Ledger, Refund, Trade, fault_delay
from payments.simulator.statements import BillStore, StoredBill, file_chunks, write_wechat_refund_bill

SCHEME = "WECHATPAY2-SHA256-RSA2048"
REFUNDS_PATH = "/v3/refund/domestic/refunds"
TIMESTAMP_TOLERANCE_SECONDS = 300
_AUTH_PARAM = re.compile(r'(\w+)="([^"]*)"')
# HTTP status of each business error code, as the gateway answers them.
_ERROR_STATUS = {
    "PARAM_ERROR": 400,
    "INVALID_REQUEST": 400,
    "MCH_NOT_EXISTS": 400,
    "NO_STATEMENT_EXIST": 400,
    "SIGN_ERROR": 401,
    "NO_AUTH": 403,
    "NOT_ENOUGH": 403,
    "USER_ACCOUNT_ABNORMAL": 403,
    "RESOURCE_NOT_EXISTS": 404,
    "FREQUENCY_LIMITED": 429,
    "SYSTEM_ERROR": 500,
}
_EVENTS = {"SUCCESS": ("REFUND.SUCCESS", "退款成功"), "CLOSED": ("REFUND.CLOSED", "退款关闭")}


class ApiError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class WechatApi:
    def __init__(
        self,
        ledger: Ledger,
        keys: SimulatorKeys,
        bills: BillStore,
        base_url: Callable[[], str],
        notify: Callable[[Refund, Trade], None],
    ) -> None:
        self.ledger = ledger
        self.keys = keys
        self.bills = bills
        self.base_url = base_url
        self.notify = notify

    # --- signing --------------------------------------------------------------------------------------------
    def sign_headers(self, body: str, *, timestamp: int | None = None, forge: bool = False) -> dict[str, str]:
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        nonce = secrets.token_hex(16).upper()
        signature = crypto.rsa_sign(self.keys.wechat_platform_private_key, f"{stamp}\n{nonce}\n{body}\n")
        return {
            "Wechatpay-Signature": crypto.corrupt(signature) if forge else signature,
            "Wechatpay-Timestamp": stamp,
            "Wechatpay-Nonce": nonce,
            "Wechatpay-Serial": self.keys.wechat_public_key_id,
            "Wechatpay-Signature-Type": SCHEME,
        }

    def _answer(self, status: int, payload: Any, *, forge: bool = False) -> Reply:
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
        headers = {"Content-Type": "application/json; charset=utf-8", "Request-ID": str(uuid.uuid4())}
        headers |= self.sign_headers(body, forge=forge)
        return Reply(status, body.encode("utf-8"), headers)

    def _error(self, error: ApiError) -> Reply:
        return self._answer(_ERROR_STATUS.get(error.code, 400), {"code": error.code, "message": error.message})

    def _authenticate(self, method: str, target: str, headers: dict[str, str], body: str) -> None:
        authorization = headers.get("authorization", "")
        scheme, _, rest = authorization.partition(" ")
        if scheme != SCHEME:
            raise ApiError("SIGN_ERROR", "Authorization 头缺失或认证类型不正确")
        params = dict(_AUTH_PARAM.findall(rest))
        if params.get("mchid") != self.keys.wechat_mch_id:
            raise ApiError("SIGN_ERROR", "商户号与签名不匹配")
        if params.get("serial_no") != self.keys.wechat_merchant_serial_no:
            raise ApiError("SIGN_ERROR", "商户证书序列号不正确")
        try:
            stamp = int(params.get("timestamp", ""))
        except ValueError:
            raise ApiError("SIGN_ERROR", "时间戳格式不正确") from None
        if abs(time.time() - stamp) > TIMESTAMP_TOLERANCE_SECONDS:
            raise ApiError("SIGN_ERROR", "请求时间戳已过期")
        message = f"{method}\n{target}\n{params['timestamp']}\n{params.get('nonce_str', '')}\n{body}\n"
        if not crypto.rsa_verify(self.keys.wechat_merchant_public_key, message, params.get("signature", "")):
            raise ApiError("SIGN_ERROR", "签名错误")

    # --- entry point ----------------------------------------------------------------------------------------
    def handle(self, method: str, target: str, headers: dict[str, str], raw_body: bytes) -> Reply:
        path = urlsplit(target).path
        body = raw_body.decode("utf-8", errors="replace")
        try:
            self._authenticate(method, target, headers, body)
        except ApiError as error:
            return self._error(error)

        if method == "POST" and path == REFUNDS_PATH:
            operation = "refund"
        elif method == "GET" and path.startswith(REFUNDS_PATH + "/"):
            operation = "query"
        elif method == "GET" and path in ("/v3/bill/tradebill", "/v3/billdownload/file"):
            operation = "statement"
        else:
            return self._error(ApiError("RESOURCE_NOT_EXISTS", "接口不存在"))

        fault = self.ledger.take_fault(
            "wechat", operation, ("timeout", "http_500", "business_error", "bad_signature", "processing")
        )
        if fault is not None and fault.kind == "http_500":
            return Reply(500, b'{"code":"SYSTEM_ERROR","message":"System error"}', {"Content-Type": "application/json"})
        if fault is not None and fault.kind == "business_error":
            return self._error(
                ApiError(str(fault.params.get("code", "SYSTEM_ERROR")), str(fault.params.get("message", "系统繁忙")))
            )
        if fault is not None and fault.kind == "timeout" and not fault.params.get("apply", True):
            return Reply(504, b"", delay=fault_delay(fault))

        forge = fault is not None and fault.kind == "bad_signature"
        try:
            if operation == "refund":
                settle = float(fault.params.get("settle_after", 1.0)) if fault and fault.kind == "processing" else None
                reply = self._answer(200, self._refund(body, settle), forge=forge)
            elif operation == "query":
                reply = self._answer(200, self._query(path.rsplit("/", 1)[1]), forge=forge)
            elif path == "/v3/bill/tradebill":
                reply = self._answer(200, self._trade_bill(parse_qs(urlsplit(target).query)), forge=forge)
            else:
                reply = self._download(parse_qs(urlsplit(target).query))
        except ApiError as error:
            reply = self._error(error)
        if fault is not None and fault.kind == "timeout":
            reply.delay = fault_delay(fault)
        return reply

    # --- operations -----------------------------------------------------------------------------------------
    def _refund(self, body: str, settle_after: float | None) -> dict[str, Any]:
        try:
            data = json.loads(body)
        except ValueError:
            raise ApiError("PARAM_ERROR", "请求体不是合法的 JSON") from None
        if not isinstance(data, dict):
            raise ApiError("PARAM_ERROR", "请求体不是合法的 JSON 对象")
        out_refund_no = data.get("out_refund_no")
        amount = data.get("amount")
        if not isinstance(out_refund_no, str) or not out_refund_no:
            raise ApiError("PARAM_ERROR", "缺少参数 out_refund_no")
        if not isinstance(amount, dict):
            raise ApiError("PARAM_ERROR", "缺少参数 amount")
        refund_fen, total_fen = amount.get("refund"), amount.get("total")
        if not (_positive_int(refund_fen) and _positive_int(total_fen)):
            raise ApiError("PARAM_ERROR", "amount.refund 与 amount.total 须为正整数（分）")
        if amount.get("currency", "CNY") != "CNY":
            raise ApiError("PARAM_ERROR", "仅支持人民币 CNY")
        trade = self.ledger.find_trade(
            "wechat", out_trade_no=str(data.get("out_trade_no") or ""), trade_no=str(data.get("transaction_id") or "")
        )
        if trade is None:
            raise ApiError("RESOURCE_NOT_EXISTS", "订单不存在")
        if total_fen != fen(trade.amount):
            raise ApiError("PARAM_ERROR", "订单金额 amount.total 与原订单金额不一致")
        outcome, refund = self.ledger.request_refund(
            trade,
            out_refund_no=out_refund_no,
            amount=Decimal(refund_fen) / 100,
            reason=str(data.get("reason") or ""),
            notify_url=str(data.get("notify_url") or trade.notify_url),
            settle_after=settle_after,
        )
        if outcome == "exceeds":
            raise ApiError("INVALID_REQUEST", "申请退款金额超过订单可退金额")
        if outcome == "mismatch":
            raise ApiError("INVALID_REQUEST", "商户退款单号已存在，且与本次请求的订单或金额不一致")
        assert refund is not None
        if outcome == "created" and refund.status != PROCESSING:
            self.notify(refund, trade)  # REFUND.SUCCESS, or REFUND.ABNORMAL / REFUND.CLOSED on a dead path
        return refund_object(refund, trade)

    def _query(self, out_refund_no: str) -> dict[str, Any]:
        refund = self.ledger.find_refund("wechat", out_refund_no)
        trade = self.ledger.find_trade("wechat", out_trade_no=refund.out_trade_no) if refund else None
        if refund is None or trade is None:
            raise ApiError("RESOURCE_NOT_EXISTS", "退款单不存在")
        if self.ledger.settle_if_due(refund):
            self.notify(refund, trade)
        return refund_object(refund, trade)

    def _trade_bill(self, query: dict[str, list[str]]) -> dict[str, Any]:
        try:
            day = date.fromisoformat(query.get("bill_date", [""])[0])
        except ValueError:
            raise ApiError("PARAM_ERROR", "bill_date 格式应为 YYYY-MM-DD") from None
        if query.get("bill_type", ["ALL"])[0] != "REFUND":
            raise ApiError("INVALID_REQUEST", "模拟器仅提供退款账单 (bill_type=REFUND)")
        gzipped = query.get("tar_type", [""])[0] == "GZIP"
        key = ("wechat", day, gzipped, self.ledger.version)
        cached = self.bills.cached(key)
        if cached is None:
            if next(self.ledger.refunds_on("wechat", day), None) is None:
                raise ApiError("NO_STATEMENT_EXIST", "账单文件不存在")
            token, path = self.bills.new_file(".csv.gz" if gzipped else ".csv")
            rows = (
                (r, self.ledger.find_trade("wechat", out_trade_no=r.out_trade_no))
                for r in self.ledger.refunds_on("wechat", day)
            )
            digest, _ = write_wechat_refund_bill(
                path, rows, app_id=self.keys.wechat_app_id, mch_id=self.keys.wechat_mch_id, gzipped=gzipped
            )
            content_type = "application/x-gzip" if gzipped else "text/plain; charset=utf-8"
            cached = token, StoredBill(path, content_type, path.name, digest)
            self.bills.put(token, cached[1], key=key)
        token, bill = cached
        return {
            "download_url": f"{self.base_url()}/v3/billdownload/file?token={token}",
            "hash_type": "SHA1",
            "hash_value": bill.digest,
        }

    def _download(self, query: dict[str, list[str]]) -> Reply:
        bill = self.bills.get(query.get("token", [""])[0])
        if bill is None:
            raise ApiError("RESOURCE_NOT_EXISTS", "账单下载地址已失效")
        size = bill.path.stat().st_size
        return Reply(
            200, headers={"Content-Type": bill.content_type}, chunks=file_chunks(bill.path), content_length=size
        )

    # --- notifications --------------------------------------------------------------------------------------
    def notification(
        self, refund: Refund, trade: Trade, *, event_id: str, age: float = 0.0
    ) -> tuple[dict[str, str], bytes]:
        """The REFUND.* notification: an AES-256-GCM sealed resource under signed headers."""
        event_type, summary = _EVENTS.get(refund.status, ("REFUND.ABNORMAL", "退款异常"))
        resource = {
            "mchid": self.keys.wechat_mch_id,
            "out_trade_no": trade.out_trade_no,
            "transaction_id": trade.trade_no,
            "out_refund_no": refund.out_refund_no,
            "refund_id": refund.refund_id,
            "refund_status": refund.status,
            "user_received_account": "支付用户零钱",
            "amount": {
                "total": fen(trade.amount),
                "refund": fen(refund.amount),
                "payer_total": fen(trade.amount),
                "payer_refund": fen(refund.amount),
            },
        }
        if refund.succeeded_at:
            resource["success_time"] = rfc3339(refund.succeeded_at)
        nonce = secrets.token_hex(6)
        sealed = crypto.aes_gcm_encrypt(
            self.keys.wechat_api_v3_key, nonce, json.dumps(resource, ensure_ascii=False), "refund"
        )
        envelope = {
            "id": event_id,
            "create_time": rfc3339(refund.succeeded_at or now()),
            "resource_type": "encrypt-resource",
            "event_type": event_type,
            "summary": summary,
            "resource": {
                "original_type": "refund",
                "algorithm": "AEAD_AES_256_GCM",
                "ciphertext": sealed,
                "associated_data": "refund",
                "nonce": nonce,
            },
        }
        body = json.dumps(envelope, ensure_ascii=False, separators=(",", ":"))
        headers = {"Content-Type": "application/json"} | self.sign_headers(body, timestamp=int(time.time() - age))
        return headers, body.encode("utf-8")


def refund_object(refund: Refund, trade: Trade) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "refund_id": refund.refund_id,
        "out_refund_no": refund.out_refund_no,
        "transaction_id": trade.trade_no,
        "out_trade_no": trade.out_trade_no,
        "channel": "ORIGINAL",
        "user_received_account": "支付用户零钱",
        "create_time": rfc3339(refund.created_at),
        "status": refund.status,
        "funds_account": "AVAILABLE",
        "amount": {
            "total": fen(trade.amount),
            "refund": fen(refund.amount),
            "payer_total": fen(trade.amount),
            "payer_refund": fen(refund.amount),
            "settlement_total": fen(trade.amount),
            "settlement_refund": fen(refund.amount),
            "discount_refund": 0,
            "currency": "CNY",
            "refund_fee": 0,
        },
        "promotion_detail": [],
    }
    if refund.succeeded_at:
        obj["success_time"] = rfc3339(refund.succeeded_at)
    return obj


def _positive_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0
