"""Daily statements in each gateway's file format, written to temporary files and served by token.

WeChat Pay: a CSV whose every field starts with a backtick, a summary section at the end, optionally gzipped,
with the SHA1 of the plain file. Alipay: a zip holding a detail CSV and a summary CSV, GBK encoded, framed by
``#`` comment lines; refunds are the rows whose business type is 退款, next to the day's payments.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import hashlib
import io
import secrets
import shutil
import tempfile
import threading
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import IO, cast

from payments.simulator.common import CHINA_TZ, china_time, now, yuan
from payments.simulator.ledger import SUCCESS, Refund, Trade

WECHAT_REFUND_HEADER = [
    "交易时间",
    "公众账号ID",
    "商户号",
    "特约商户号",
    "设备号",
    "微信订单号",
    "商户订单号",
    "用户标识",
    "交易类型",
    "交易状态",
    "付款银行",
    "货币种类",
    "应结订单金额",
    "代金券金额",
    "退款申请时间",
    "退款成功时间",
    "微信退款单号",
    "商户退款单号",
    "退款金额",
    "充值券退款金额",
    "退款类型",
    "退款状态",
    "商品名称",
    "商户数据包",
    "手续费",
    "费率",
    "订单金额",
    "申请退款金额",
    "费率备注",
]
WECHAT_SUMMARY_HEADER = [
    "总交易单数",
    "应结订单总金额",
    "退款总金额",
    "充值券退款总金额",
    "手续费总金额",
    "订单总金额",
    "申请退款总金额",
]
ALIPAY_DETAIL_HEADER = [
    "支付宝交易号",
    "商户订单号",
    "业务类型",
    "商品名称",
    "创建时间",
    "完成时间",
    "门店编号",
    "门店名称",
    "操作员",
    "终端号",
    "对方账户",
    "订单金额（元）",
    "商家实收（元）",
    "支付宝红包（元）",
    "集分宝（元）",
    "支付宝优惠（元）",
    "商家优惠（元）",
    "券核销金额（元）",
    "券名称",
    "商家红包消费金额（元）",
    "卡消费金额（元）",
    "退款批次号/请求号",
    "服务费（元）",
    "分润（元）",
    "备注",
]
ZERO = "0.00"
FEE_RATE = Decimal("0.006")


@dataclass(frozen=True)
class StoredBill:
    path: Path
    content_type: str
    filename: str
    digest: str = ""


class BillStore:
    """Statement files by download token; the files live in a private temporary directory."""

    def __init__(self) -> None:
        self._dir = Path(tempfile.mkdtemp(prefix="channel-sim-bills-"))
        self._bills: dict[str, StoredBill] = {}
        self._tokens: dict[tuple[object, ...], str] = {}
        self._lock = threading.Lock()

    def new_file(self, suffix: str) -> tuple[str, Path]:
        token = secrets.token_urlsafe(24)
        return token, self._dir / f"{token}{suffix}"

    def put(self, token: str, bill: StoredBill, *, key: tuple[object, ...] = ()) -> None:
        with self._lock:
            self._bills[token] = bill
            if key:
                self._tokens[key] = token

    def cached(self, key: tuple[object, ...]) -> tuple[str, StoredBill] | None:
        """A bill already built for ``key`` (channel, day, kind, ledger version): gateways build bills once."""
        with self._lock:
            token = self._tokens.get(key)
            return (token, self._bills[token]) if token is not None else None

    def get(self, token: str) -> StoredBill | None:
        with self._lock:
            return self._bills.get(token)

    def close(self) -> None:
        shutil.rmtree(self._dir, ignore_errors=True)


def file_chunks(path: Path, size: int = 64 * 1024) -> Iterator[bytes]:
    with path.open("rb") as fh:
        while chunk := fh.read(size):
            yield chunk


class _LineWriter:
    """CSV lines as strings, one writer reused for the whole file (statements run to many lines)."""

    def __init__(self) -> None:
        self._buffer = io.StringIO()
        self._writer = csv.writer(self._buffer, lineterminator="\r\n")

    def __call__(self, fields: Iterable[str]) -> str:
        self._buffer.seek(0)
        self._buffer.truncate()
        self._writer.writerow(fields)
        return self._buffer.getvalue()


# --- WeChat Pay -----------------------------------------------------------------------------------------
def write_wechat_refund_bill(
    path: Path, rows: Iterable[tuple[Refund, Trade | None]], *, app_id: str, mch_id: str, gzipped: bool
) -> tuple[str, int]:
    """Write the REFUND bill; returns (SHA1 of the plain file, number of refund lines)."""
    digest = hashlib.sha1()  # noqa: S324 - the gateway's own integrity hash, not a security boundary
    count, total = 0, Decimal("0.00")
    line = _LineWriter()
    with path.open("wb") as file, contextlib.ExitStack() as stack:
        raw = cast(IO[bytes], stack.enter_context(gzip.GzipFile(fileobj=file, mode="wb"))) if gzipped else file

        def emit(fields: Iterable[str]) -> None:
            data = line(fields).encode("utf-8")
            digest.update(data)
            raw.write(data)

        emit(WECHAT_REFUND_HEADER)
        for refund, trade in rows:
            count += 1
            total += refund.amount
            fee = (refund.amount * FEE_RATE).quantize(Decimal("0.00001"))
            values = [
                china_time(trade.paid_at if trade else refund.created_at),
                app_id,
                mch_id,
                "0",
                "",
                refund.trade_no,
                refund.out_trade_no,
                "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
                "JSAPI",
                "REFUND",
                "OTHERS",
                "CNY",
                ZERO,
                ZERO,
                china_time(refund.created_at),
                china_time(refund.succeeded_at) if refund.succeeded_at else "",
                refund.refund_id,
                refund.out_refund_no,
                yuan(refund.amount),
                ZERO,
                "ORIGINAL",
                refund.status,
                "水果",
                "",
                f"{-fee:f}",
                "0.60%",
                yuan(trade.amount) if trade else yuan(refund.amount),
                yuan(refund.amount),
                "",
            ]
            emit("`" + v for v in values)
        emit(WECHAT_SUMMARY_HEADER)
        fees = (total * FEE_RATE).quantize(Decimal("0.00001"))
        emit("`" + v for v in [str(count), ZERO, yuan(total), ZERO, f"{-fees:f}", ZERO, yuan(total)])
    return digest.hexdigest(), count


# --- Alipay ---------------------------------------------------------------------------------------------
def _cn_date(moment: datetime) -> str:
    return moment.astimezone(CHINA_TZ).strftime("%Y年%m月%d日 %H:%M:%S")


def write_alipay_trade_bill(
    path: Path,
    day: date,
    *,
    account: str,
    payments: Iterable[Trade],
    refunds: Iterable[tuple[Refund, Trade | None]],
) -> int:
    """Write the day's trade bill zip (detail + summary); returns the number of refund lines."""
    start = datetime.combine(day, time.min, tzinfo=CHINA_TZ)
    period = f"#起始日期：[{_cn_date(start)}]   终止日期：[{_cn_date(start + timedelta(days=1))}]"
    stem = f"{account}_{day:%Y%m%d}"
    line = _LineWriter()
    paid_count = refund_count = 0
    paid_total = refund_total = Decimal("0.00")
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
        with bundle.open(f"{stem}_业务明细.csv", "w") as member:
            out = io.TextIOWrapper(member, encoding="gbk", newline="")
            out.write(f"#支付宝业务明细查询\r\n#账号：[{account}]\r\n{period}\r\n")
            out.write(
                "#-----------------------------------------业务明细列表----------------------------------------\r\n"
            )
            out.write(line(ALIPAY_DETAIL_HEADER))
            for trade in payments:
                paid_count += 1
                paid_total += trade.amount
                amount = yuan(trade.amount)
                fee = f"{-(trade.amount * FEE_RATE).quantize(Decimal('0.01')):f}"
                values = [trade.trade_no, trade.out_trade_no, "交易", "水果", china_time(trade.paid_at)]
                values += [china_time(trade.paid_at), "", "", "", "", "138****8888", amount, amount]
                values += [ZERO] * 5 + ["", ZERO, ZERO, "", fee, ZERO, ""]
                out.write(line(v + "\t" for v in values))
            for refund, _trade in rows_of(refunds):
                refund_count += 1
                refund_total += refund.amount
                amount = yuan(-refund.amount)
                moment = refund.succeeded_at or refund.created_at
                values = [refund.trade_no, refund.out_trade_no, "退款", "水果", china_time(refund.created_at)]
                values += [china_time(moment), "", "", "", "", "138****8888", amount, amount]
                values += [ZERO] * 5 + ["", ZERO, ZERO, refund.out_refund_no, ZERO, ZERO, refund.reason]
                out.write(line(v + "\t" for v in values))
            out.write(
                "#-----------------------------------------业务明细列表结束------------------------------------\r\n"
            )
            out.write(f"#交易合计：{paid_count}笔，商家实收：{yuan(paid_total)}元，商家优惠：0.00元\r\n")
            out.write(f"#退款合计：{refund_count}笔，商家实收：{yuan(-refund_total)}元，商家优惠：0.00元\r\n")
            out.write(f"#导出时间：[{_cn_date(now())}]\r\n")
            out.flush()
            out.detach()
        with bundle.open(f"{stem}_业务明细(汇总).csv", "w") as member:
            out = io.TextIOWrapper(member, encoding="gbk", newline="")
            out.write(f"#支付宝业务汇总查询\r\n#账号：[{account}]\r\n{period}\r\n")
            out.write(
                "#-----------------------------------------业务汇总列表----------------------------------------\r\n"
            )
            out.write(
                line(["门店编号", "门店名称", "交易订单总笔数", "退款订单总笔数", "订单金额（元）", "商家实收（元）"])
            )
            net = yuan(paid_total - refund_total)
            out.write(line(["合计", "", str(paid_count), str(refund_count), net, net]))
            out.write(
                "#-----------------------------------------业务汇总列表结束------------------------------------\r\n"
            )
            out.write(f"#导出时间：[{_cn_date(now())}]\r\n")
            out.flush()
            out.detach()
    return refund_count


def rows_of(refunds: Iterable[tuple[Refund, Trade | None]]) -> Iterator[tuple[Refund, Trade | None]]:
    """Only refunds that completed belong in Alipay's bill."""
    return ((r, t) for r, t in refunds if r.status == SUCCESS)
