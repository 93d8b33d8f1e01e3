"""The simulator behaves like the gateways where the contract tests do not look: it checks who is asking,
keeps its ledger across restarts, retries notifications, and its faults are bounded."""

from __future__ import annotations

import gzip
import io
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import zipfile
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from mall.shoptime import SHOP_TZ
from payments.channels import ChannelRejected, ChannelTemporaryError, RefundStatus, get_channel
from payments.channels.demo_keys import DemoKeys
from payments.simulator import client
from payments.simulator.client import SimulatorError
from payments.simulator.server import ChannelSimulator, start_simulator
from tests.channel_simulator import NotificationInbox
from tests.payments.helpers import ledger_refunds, paid_trade, refund_request

ROOT = Path(__file__).resolve().parents[2]


def _other_private_key() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


@pytest.mark.parametrize(("code", "expected"), [("alipay", "isv.invalid-signature"), ("wechat", "SIGN_ERROR")])
def test_a_request_signed_with_another_key_is_refused_and_moves_nothing(
    code: str, expected: str, channel_simulator: ChannelSimulator, settings: Any
) -> None:
    trade = paid_trade(channel_simulator, code)
    setattr(settings, "ALIPAY_PRIVATE_KEY" if code == "alipay" else "WECHAT_PRIVATE_KEY", _other_private_key())

    with pytest.raises(ChannelRejected) as rejected:
        get_channel(code).refund(refund_request(trade, "1.00"))

    assert rejected.value.code == expected
    assert ledger_refunds(channel_simulator, trade[0]) == []


@pytest.mark.parametrize(
    ("setting", "value", "expected"),
    [("ALIPAY_APP_ID", "2021000000000000", "isv.invalid-app-id"), ("WECHAT_MCH_ID", "1900000000", "SIGN_ERROR")],
)
def test_a_request_for_another_merchant_is_refused(
    setting: str, value: str, expected: str, channel_simulator: ChannelSimulator, settings: Any
) -> None:
    code = setting.split("_")[0].lower()
    trade = paid_trade(channel_simulator, code)
    setattr(settings, setting, value)

    with pytest.raises(ChannelRejected) as rejected:
        get_channel(code).refund(refund_request(trade, "1.00"))

    assert rejected.value.code == expected
    assert ledger_refunds(channel_simulator, trade[0]) == []


@pytest.mark.parametrize("code", ["alipay", "wechat"])
def test_notifications_are_retried_until_acknowledged(
    code: str, channel_simulator: ChannelSimulator, notification_inbox: NotificationInbox
) -> None:
    trade = paid_trade(channel_simulator, code)
    notification_inbox.fail_next(2)
    req = refund_request(trade, "3.30")
    get_channel(code).refund(req)

    posted = notification_inbox.wait_for(3)

    assert len(posted) == 3
    notices = {get_channel(code).parse_notification(p.headers, p.body) for p in posted}
    assert [(n.out_refund_no, n.amount) for n in notices] == [(req.out_refund_no, Decimal("3.30"))]
    deadline = time.monotonic() + 2
    while not client.ledger(base_url=channel_simulator.url)["notifications"] and time.monotonic() < deadline:
        time.sleep(0.02)
    [entry] = client.ledger(base_url=channel_simulator.url)["notifications"]
    assert (entry["out_refund_no"], entry["attempts"], entry["acknowledged"]) == (req.out_refund_no, 3, True)


def test_fault_count_and_probability(channel_simulator: ChannelSimulator) -> None:
    trade = paid_trade(channel_simulator, "wechat")
    req = refund_request(trade, "1.00")
    client.add_fault(channel="*", kind="http_500", count=2, base_url=channel_simulator.url)
    client.add_fault(channel="wechat", kind="bad_signature", probability=0.0, base_url=channel_simulator.url)
    channel = get_channel("wechat")

    for _ in range(2):
        with pytest.raises(ChannelTemporaryError):
            channel.refund(req)

    assert channel.refund(req).status == RefundStatus.SUCCESS
    assert ledger_refunds(channel_simulator, trade[0]) == [(req.out_refund_no, "1.00", "SUCCESS")]


@pytest.mark.parametrize(
    "payload",
    [
        {"channel": "alipay", "out_trade_no": "O1", "trade_no": "T1", "amount": "12.345"},
        {"channel": "alipay", "out_trade_no": "O1", "trade_no": "T1", "amount": "-1"},
        {"channel": "unionpay", "out_trade_no": "O1", "trade_no": "T1", "amount": "1.00"},
        {"channel": "alipay", "trade_no": "T1", "amount": "1.00"},
    ],
)
def test_bad_trade_registrations_are_refused(channel_simulator: ChannelSimulator, payload: dict[str, str]) -> None:
    answer = requests.post(channel_simulator.url + "/sim/trades", json=payload, timeout=5)

    assert answer.status_code == 400
    assert client.ledger(base_url=channel_simulator.url)["trades"] == []


def test_registering_a_trade_is_idempotent_but_not_rewritable(channel_simulator: ChannelSimulator) -> None:
    facts: dict[str, Any] = {
        "channel": "alipay",
        "out_trade_no": "ORD9",
        "trade_no": "T9",
        "base_url": channel_simulator.url,
    }
    client.register_trade(amount=Decimal("5.00"), **facts)
    client.register_trade(amount=Decimal("5.00"), **facts)

    with pytest.raises(SimulatorError, match="other facts"):
        client.register_trade(amount=Decimal("6.00"), **facts)
    with pytest.raises(TypeError):
        client.register_trade(amount=5.0, **facts)  # type: ignore[arg-type]
    with pytest.raises(SimulatorError, match="unknown fault kind"):
        client.add_fault(channel="alipay", kind="meteor", base_url=channel_simulator.url)
    assert [(t["out_trade_no"], t["amount"]) for t in client.ledger(base_url=channel_simulator.url)["trades"]] == [
        ("ORD9", "5.00")
    ]


def test_the_ledger_survives_a_restart(channel_keys: DemoKeys, settings: Any, tmp_path: Path) -> None:
    state = tmp_path / "ledger.json"
    first = start_simulator(channel_keys, state_path=state)
    try:
        _point_settings_at(settings, channel_keys, first)
        trade = paid_trade(first, "alipay")
        req = refund_request(trade, "10.00")
        assert get_channel("alipay").refund(req).fund_change is True
    finally:
        first.stop()

    second = start_simulator(channel_keys, state_path=state)
    try:
        _point_settings_at(settings, channel_keys, second)
        again = get_channel("alipay").refund(req)
        assert (again.status, again.fund_change, again.amount) == (RefundStatus.SUCCESS, False, Decimal("10.00"))
        assert ledger_refunds(second, trade[0]) == [(req.out_refund_no, "10.00", "SUCCESS")]
    finally:
        second.stop()


def _point_settings_at(settings: Any, keys: DemoKeys, simulator: ChannelSimulator) -> None:
    settings.ALIPAY_APP_ID = keys.alipay_app_id
    settings.ALIPAY_PRIVATE_KEY = keys.alipay_app_private_key
    settings.ALIPAY_PUBLIC_KEY = keys.alipay_platform_public_key
    settings.ALIPAY_GATEWAY = simulator.url + "/gateway.do"
    settings.CHANNEL_TIMEOUT_SECONDS = 2.0


def test_a_timeout_fault_does_not_outlive_the_server(channel_keys: DemoKeys) -> None:
    simulator = start_simulator(channel_keys)
    client.add_fault(channel="*", kind="timeout", operation="*", delay=30, base_url=simulator.url)
    caller = threading.Thread(
        target=lambda: requests.post(simulator.url + "/gateway.do", data={"method": "x"}, timeout=(1, 0.2)),
        daemon=True,
    )
    caller.start()
    time.sleep(0.3)

    started = time.monotonic()
    simulator.stop()

    assert time.monotonic() - started < 3


def test_statement_files_are_in_each_gateways_format(channel_simulator: ChannelSimulator) -> None:
    for code in ("alipay", "wechat"):
        trade = paid_trade(channel_simulator, code)
        get_channel(code).refund(refund_request(trade, "4.20"))
    today = datetime.now(SHOP_TZ).date()
    bills = channel_simulator.bills
    alipay_url = channel_simulator.alipay._bill_url({"bill_type": "trade", "bill_date": today.isoformat()})
    archive = zipfile.ZipFile(io.BytesIO(requests.get(alipay_url["bill_download_url"], timeout=5).content))
    names = sorted(info.filename for info in archive.infolist())
    detail = archive.read(next(n for n in names if "汇总" not in n)).decode("gbk")
    wechat = channel_simulator.wechat._trade_bill(
        {"bill_date": [today.isoformat()], "bill_type": ["REFUND"], "tar_type": ["GZIP"]}
    )
    token = wechat["download_url"].rsplit("=", 1)[1]
    stored = bills.get(token)
    assert stored is not None
    plain = gzip.decompress(stored.path.read_bytes()).decode("utf-8")

    assert [n.endswith(("业务明细.csv", "业务明细(汇总).csv")) for n in names] == [True, True]
    assert detail.startswith("#支付宝业务明细查询\r\n")
    assert (
        "退款\t,水果\t" in detail and "-4.20\t" in detail and detail.rstrip().splitlines()[-1].startswith("#导出时间")
    )
    lines = plain.splitlines()
    assert lines[0].startswith("交易时间,公众账号ID,商户号") and lines[1].startswith("`")
    assert lines[-2].startswith("总交易单数") and lines[-1].startswith("`1,`0.00,`4.20")


def test_a_wechat_statement_that_does_not_match_its_hash_is_refused(channel_simulator: ChannelSimulator) -> None:
    trade = paid_trade(channel_simulator, "wechat")
    get_channel("wechat").refund(refund_request(trade, "4.20"))
    today = datetime.now(SHOP_TZ).date()
    answer = channel_simulator.wechat._trade_bill(
        {"bill_date": [today.isoformat()], "bill_type": ["REFUND"], "tar_type": ["GZIP"]}
    )
    stored = channel_simulator.bills.get(answer["download_url"].rsplit("=", 1)[1])
    assert stored is not None
    stored.path.write_bytes(gzip.compress(gzip.decompress(stored.path.read_bytes()).replace(b"`4.20", b"`0.42")))

    with pytest.raises(ChannelTemporaryError, match="hash"):
        list(get_channel("wechat").fetch_statement(today))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_the_management_command_serves_both_gateways(tmp_path: Path) -> None:
    port = _free_port()
    env = os.environ | {"PYTHONUNBUFFERED": "1"}
    command = [
        sys.executable,
        "manage.py",
        "channel_simulator",
        "--port",
        str(port),
        "--keys-dir",
        str(tmp_path / "keys"),
    ]
    process = subprocess.Popen(
        [*command, "--state", str(tmp_path / "ledger.json")], cwd=ROOT, env=env, stdout=subprocess.PIPE
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if requests.get(url + "/sim/health", timeout=1).json() == {"status": "ok"}:
                    break
            except requests.ConnectionError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, "the simulator did not come up"
            time.sleep(0.1)
        client.register_trade(
            channel="wechat", out_trade_no="ORD1", trade_no="T1", amount=Decimal("1.00"), base_url=url
        )
        assert (
            requests.post(url + "/gateway.do", data={"method": "alipay.trade.refund"}, timeout=5).json()[
                "error_response"
            ]["sub_code"]
            == "isv.invalid-app-id"
        )
    finally:
        process.send_signal(signal.SIGINT)
        output = process.communicate(timeout=10)[0].decode()
    assert f"listening on {url}" in output
    assert (tmp_path / "keys" / "ids.json").exists()
    assert '"out_trade_no": "ORD1"' in (tmp_path / "ledger.json").read_text()
