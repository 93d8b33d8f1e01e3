"""The Alipay open-platform gateway (``/gateway.do``): signed requests in, signed answers out.

Requests carry the common parameters and ``biz_content``; the RSA2 signature covers every parameter but
``sign``, sorted, as ``k=v`` joined by ``&``. Answers are ``{"<method>_response": {...}, "sign": "..."}``
where the signature covers the exact JSON text of the response object.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from payments.simulator import crypto
from payments.simulator.common import CHINA_TZ, Reply, china_time, now, parse_yuan, yuan
from payments.simulator.keys import SimulatorKeys
from payments.simulator.ledger import SUCCESS, TRADE_CLOSED, Ledger, Refund, Trade, fault_delay
from payments.simulator.statements import BillStore, StoredBill, write_alipay_trade_bill

REFUND = "alipay.trade.refund"
REFUND_QUERY = "alipay.trade.fastpay.refund.query"
BILL_URL_QUERY = "alipay.data.dataservice.bill.downloadurl.query"
_OPERATIONS = {REFUND: "refund", REFUND_QUERY: "query", BILL_URL_QUERY: "statement"}
# Alipay refuses requests whose timestamp strays this far from Beijing time.
TIMESTAMP_TOLERANCE = timedelta(minutes=15)
BUYER_ID = "2088102177846880"


@dataclass(frozen=True)
class BizError(Exception):
    code: str
    msg: str
    sub_code: str
    sub_msg: str


def _trade_not_exist() -> BizError:
    return BizError("40004", "Business Failed", "ACQ.TRADE_NOT_EXIST", "交易不存在")


def _invalid(sub_msg: str) -> BizError:
    return BizError("40004", "Business Failed", "ACQ.INVALID_PARAMETER", sub_msg)


class AlipayGateway:
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
    def _signed(self, response_key: str, payload: dict[str, Any], *, forge: bool = False) -> Reply:
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
        sign = crypto.rsa_sign(self.keys.alipay_platform_private_key, body)
        if forge:
            sign = crypto.corrupt(sign)
        text = f'{{"{response_key}":{body},"sign":"{sign}"}}'
        return Reply(200, text.encode("utf-8"), {"Content-Type": "text/html;charset=utf-8"})

    def _verify_request(self, params: dict[str, str]) -> BizError | None:
        if params.get("app_id") != self.keys.alipay_app_id:
            return BizError("40002", "Invalid Arguments", "isv.invalid-app-id", "无效的AppID参数")
        if params.get("sign_type") != "RSA2":
            return BizError("40002", "Invalid Arguments", "isv.invalid-signature-type", "无效的签名类型")
        sign = params.get("sign", "")
        message = "&".join(f"{k}={v}" for k, v in sorted(params.items()) if k != "sign")
        if not sign or not crypto.rsa_verify(self.keys.alipay_app_public_key, message, sign):
            return BizError("40002", "Invalid Arguments", "isv.invalid-signature", "验签出错")
        try:
            sent = datetime.strptime(params.get("timestamp", ""), "%Y-%m-%d %H:%M:%S").replace(tzinfo=CHINA_TZ)
        except ValueError:
            return BizError("40002", "Invalid Arguments", "isv.invalid-timestamp", "非法的时间戳参数")
        if abs(now() - sent) > TIMESTAMP_TOLERANCE:
            return BizError("40002", "Invalid Arguments", "isv.invalid-timestamp", "时间戳与支付宝服务器时间相差过大")
        return None

    # --- entry point ----------------------------------------------------------------------------------------
    def handle(self, params: dict[str, str]) -> Reply:
        method = params.get("method", "")
        response_key = method.replace(".", "_") + "_response"
        failure = self._verify_request(params)
        if failure is None and method not in _OPERATIONS:
            failure = BizError("40002", "Invalid Arguments", "isv.invalid-method", "不存在的方法名")
        if failure is not None:
            return self._signed("error_response", _error(failure))
        try:
            biz = json.loads(params.get("biz_content") or "{}")
        except ValueError:
            biz = None
        if not isinstance(biz, dict):
            return self._signed(response_key, _error(_invalid("biz_content 不是合法的 JSON 对象")))

        operation = _OPERATIONS[method]
        fault = self.ledger.take_fault(
            "alipay", operation, ("timeout", "http_500", "business_error", "bad_signature", "processing")
        )
        if fault is not None and fault.kind == "http_500":
            return Reply(502, b"<html><body>502 Bad Gateway</body></html>", {"Content-Type": "text/html"})
        if fault is not None and fault.kind == "business_error":
            code = str(fault.params.get("code", "ACQ.SYSTEM_ERROR"))
            failure = BizError(
                "20000" if code.startswith("isp.") else "40004",
                "Service Currently Unavailable" if code.startswith("isp.") else "Business Failed",
                code,
                str(fault.params.get("message", "系统错误")),
            )
            return self._signed(response_key, _error(failure))
        if fault is not None and fault.kind == "timeout" and not fault.params.get("apply", True):
            return Reply(504, b"", delay=fault_delay(fault))

        try:
            if method == REFUND:
                settle = float(fault.params.get("settle_after", 1.0)) if fault and fault.kind == "processing" else None
                payload = self._refund(biz, params.get("notify_url", ""), settle)
            elif method == REFUND_QUERY:
                payload = self._refund_query(biz)
            else:
                payload = self._bill_url(biz)
        except BizError as error:
            payload = _error(error)
        reply = self._signed(response_key, payload, forge=fault is not None and fault.kind == "bad_signature")
        if fault is not None and fault.kind == "timeout":
            reply.delay = fault_delay(fault)
        return reply

    # --- operations -----------------------------------------------------------------------------------------
    def _trade(self, biz: dict[str, Any]) -> Trade:
        out_trade_no, trade_no = str(biz.get("out_trade_no") or ""), str(biz.get("trade_no") or "")
        if not (out_trade_no or trade_no):
            raise _invalid("out_trade_no 与 trade_no 不能同时为空")
        trade = self.ledger.find_trade("alipay", out_trade_no=out_trade_no, trade_no=trade_no)
        if trade is None:
            raise _trade_not_exist()
        return trade

    def _refund(self, biz: dict[str, Any], notify_url: str, settle_after: float | None) -> dict[str, Any]:
        trade = self._trade(biz)
        if trade.refund_outcome == TRADE_CLOSED:
            raise BizError("40004", "Business Failed", "ACQ.TRADE_HAS_CLOSE", "交易已经关闭")
        amount = parse_yuan(str(biz.get("refund_amount", "")))
        if amount is None:
            raise _invalid("refund_amount 不合法")
        out_request_no = str(biz.get("out_request_no") or trade.trade_no)
        outcome, refund = self.ledger.request_refund(
            trade,
            out_refund_no=out_request_no,
            amount=amount,
            reason=str(biz.get("refund_reason") or ""),
            notify_url=notify_url or trade.notify_url,
            settle_after=settle_after,
        )
        if outcome == "exceeds":
            raise BizError("40004", "Business Failed", "ACQ.REASON_TRADE_REFUND_FEE_ERR", "退款金额无效")
        if outcome == "mismatch":
            raise BizError("40004", "Business Failed", "ACQ.DISCORDANT_REPEAT_REQUEST", "不一致的请求")
        assert refund is not None
        if outcome == "created" and refund.status == SUCCESS:
            self.notify(refund, trade)
        moment = refund.succeeded_at or refund.created_at
        return {
            "code": "10000",
            "msg": "Success",
            "trade_no": trade.trade_no,
            "out_trade_no": trade.out_trade_no,
            "buyer_logon_id": "159****5620",
            # Y only when this very call moved money; a repeat or a refund still in progress answers N.
            "fund_change": "Y" if outcome == "created" and refund.status == SUCCESS else "N",
            "refund_fee": yuan(self.ledger.refunded_total(trade)),
            "gmt_refund_pay": china_time(moment),
            "buyer_user_id": BUYER_ID,
        }

    def _refund_query(self, biz: dict[str, Any]) -> dict[str, Any]:
        trade = self._trade(biz)
        out_request_no = str(biz.get("out_request_no") or "")
        if not out_request_no:
            raise _invalid("out_request_no 不能为空")
        refund = self.ledger.find_refund("alipay", out_request_no, trade.out_trade_no)
        answer: dict[str, Any] = {"code": "10000", "msg": "Success"}
        if refund is None:
            return answer  # no record: not refunded (the caller may safely retry the refund)
        if self.ledger.settle_if_due(refund):
            self.notify(refund, trade)
        answer |= {
            "trade_no": trade.trade_no,
            "out_trade_no": trade.out_trade_no,
            "out_request_no": refund.out_refund_no,
            "total_amount": yuan(trade.amount),
            "refund_amount": yuan(refund.amount),
            "refund_status": "REFUND_SUCCESS" if refund.status == SUCCESS else "REFUND_PROCESSING",
        }
        if refund.reason:
            answer["refund_reason"] = refund.reason
        if "gmt_refund_pay" in (biz.get("query_options") or []) and refund.succeeded_at:
            answer["gmt_refund_pay"] = china_time(refund.succeeded_at)
        return answer

    def _bill_url(self, biz: dict[str, Any]) -> dict[str, Any]:
        if biz.get("bill_type") != "trade":
            raise BizError("40004", "Business Failed", "isv.invalid-bill-type", "账单类型不合法")
        try:
            day = date.fromisoformat(str(biz.get("bill_date", "")))
        except ValueError as exc:
            raise BizError("40004", "Business Failed", "isv.invalid-bill-date", "账单时间不正确") from exc
        key = ("alipay", day, self.ledger.version)
        cached = self.bills.cached(key)
        filename = f"{self.keys.alipay_app_id}_{day:%Y%m%d}.csv.zip"
        if cached is None:
            payments = list(self.ledger.trades_paid_on("alipay", day))
            if not payments and not any(r.status == SUCCESS for r in self.ledger.refunds_on("alipay", day)):
                raise BizError("40004", "Business Failed", "isp.bill_not_exist", "账单不存在")
            refunds = (
                (r, self.ledger.find_trade("alipay", out_trade_no=r.out_trade_no))
                for r in self.ledger.refunds_on("alipay", day)
            )
            token, path = self.bills.new_file(".zip")
            write_alipay_trade_bill(path, day, account=self.keys.alipay_app_id, payments=payments, refunds=refunds)
            cached = token, StoredBill(path, "application/zip", filename)
            self.bills.put(token, cached[1], key=key)
        query = urlencode({"bizType": "trade", "fileType": "csv.zip", "downloadFileName": filename, "token": cached[0]})
        return {"code": "10000", "msg": "Success", "bill_download_url": f"{self.base_url()}/sim/alipay/bills?{query}"}

    # --- notifications --------------------------------------------------------------------------------------
    def notification(self, refund: Refund, trade: Trade, *, notify_id: str, age: float = 0.0) -> bytes:
        """The trade_status_sync message Alipay posts when a refund on a trade succeeds (form-encoded)."""
        sent = now() - timedelta(seconds=age)
        refunded = self.ledger.refunded_total(trade)
        moment = refund.succeeded_at or refund.created_at
        fields = {
            "notify_time": china_time(sent),
            "notify_type": "trade_status_sync",
            "notify_id": notify_id,
            "charset": "utf-8",
            "version": "1.0",
            "app_id": self.keys.alipay_app_id,
            "auth_app_id": self.keys.alipay_app_id,
            "trade_no": trade.trade_no,
            "out_trade_no": trade.out_trade_no,
            "out_biz_no": refund.out_refund_no,
            "buyer_id": BUYER_ID,
            "seller_id": "2088101117955611",
            "trade_status": "TRADE_CLOSED" if refunded >= trade.amount else "TRADE_SUCCESS",
            "total_amount": yuan(trade.amount),
            "refund_fee": yuan(refunded),
            "gmt_payment": china_time(trade.paid_at),
            "gmt_refund": moment.astimezone(CHINA_TZ).strftime("%Y-%m-%d %H:%M:%S.")
            + f"{moment.microsecond // 1000:03d}",
        }
        if refunded >= trade.amount:
            fields["gmt_close"] = china_time(moment)
        # Alipay signs every parameter except sign and sign_type.
        message = "&".join(f"{k}={v}" for k, v in sorted(fields.items()))
        fields["sign"] = crypto.rsa_sign(self.keys.alipay_platform_private_key, message)
        fields["sign_type"] = "RSA2"
        return urlencode(fields).encode("utf-8")


def new_notify_id() -> str:
    return secrets.token_hex(16)


def _error(error: BizError) -> dict[str, Any]:
    return {"code": error.code, "msg": error.msg, "sub_code": error.sub_code, "sub_msg": error.sub_msg}
