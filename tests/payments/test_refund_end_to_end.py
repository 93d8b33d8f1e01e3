"""The seed's first post-deploy case, end to end on both channels: an unshipped order's refund goes back to
the original channel through the real SDK and the simulator, the order becomes refunded, the customer is told,
and the voucher is stored in S3-compatible storage (a local moto server) behind a short-lived link."""

from __future__ import annotations

import hashlib
import socket
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import boto3
import pytest
import requests
from django.core import mail
from django.core.files.storage import default_storage
from moto.server import ThreadedMotoServer

from mall.models import OrderStatus
from notices import jobs as notices_jobs
from payments import jobs, services, vouchers
from payments.models import AttemptOutcome, ChannelAttempt, RefundVoucher
from payments.simulator import client as simulator_client
from refunds.models import Refund, RefundState
from tests.factories import ProductFactory, make_order

pytestmark = pytest.mark.django_db


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def s3_server() -> Iterator[str]:
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3_storage(s3_server: str, settings: Any, monkeypatch: Any) -> str:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    bucket = "vouchers-test"
    boto3.client(
        "s3", endpoint_url=s3_server, region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test"
    ).create_bucket(Bucket=bucket)
    settings.STORAGE_BACKEND = "s3"
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": bucket,
                "endpoint_url": s3_server,
                "access_key": "test",
                "secret_key": "test",
                "region_name": "us-east-1",
                "addressing_style": "path",
                "signature_version": "s3v4",
                "file_overwrite": False,
                "querystring_expire": 300,
            },
        },
    }
    return bucket


def _paid_order_at_simulator(customer: Any, channel: str, simulator: Any) -> Any:
    product = ProductFactory(price=Decimal("39.90"))
    order = make_order(customer, lines=[(product, "3")], shipping_fee="6.00", status="paid", channel=channel)
    payment = order.payment
    simulator_client.register_trade(
        channel=channel,
        out_trade_no=payment.out_trade_no,
        trade_no=payment.trade_no,
        amount=payment.amount,
        base_url=simulator.url,
    )
    return order


def _apply_one_unit(api: Any, order: Any) -> Refund:
    item = order.items.first()
    body = api.post(
        "/api/v1/refunds/",
        {
            "order_no": order.order_no,
            "reason": "not_shipped",
            "kind": "refund_only",
            "items": [{"order_item_id": item.pk, "quantity": "1"}],
        },
        format="json",
    ).json()
    return Refund.objects.get(refund_no=body["refund_no"])


@pytest.mark.parametrize("channel", ["alipay", "wechat"])
def test_unshipped_order_refund_end_to_end(
    api: Any, customer: Any, channel: str, channel_simulator: Any, s3_storage: str
) -> None:
    customer.email = "buyer@example.com"
    customer.save()
    order = _paid_order_at_simulator(customer, channel, channel_simulator)
    item = order.items.get()
    body = api.post(
        "/api/v1/refunds/",
        {
            "order_no": order.order_no,
            "reason": "not_shipped",
            "kind": "refund_only",
            "items": [{"order_item_id": item.pk, "quantity": "3"}],
        },
        format="json",
    ).json()
    assert body["state"] == "refunding"
    assert body["amount"] == "125.70"
    refund = Refund.objects.get(refund_no=body["refund_no"])

    assert jobs.refund_execute(refund.pk) == "refunded"
    assert jobs.refund_execute(refund.pk) == "skipped: refunded"  # a repeated job changes nothing

    refund.refresh_from_db()
    order.refresh_from_db()
    assert refund.state == RefundState.REFUNDED
    if channel == "wechat":  # Alipay answers with the trade number only; WeChat names the refund
        assert refund.channel_refund_id
    assert order.status == OrderStatus.REFUNDED
    ledger = simulator_client.ledger(base_url=channel_simulator.url)
    moved = [r for r in ledger["refunds"] if r["out_refund_no"] == refund.out_refund_no]
    assert len(moved) == 1
    assert Decimal(moved[0]["amount"]) == Decimal("125.70")

    # The customer is told once, by email too (its try a job of its own), in the shop's language by default.
    message = jobs.notify_refunded(refund)
    assert jobs.notify_refunded(refund) == message
    delivery = message.deliveries.get()
    assert notices_jobs.delivery_send(delivery.pk) == "sent"
    assert notices_jobs.delivery_send(delivery.pk) == "sent"
    assert [(email.to, email.subject) for email in mail.outbox] == [
        (["buyer@example.com"], f"您的退款 {refund.refund_no} 已完成")
    ]
    account = {"alipay": "支付宝", "wechat": "微信支付"}[channel]
    assert mail.outbox[0].body == (
        f"订单 {order.order_no} 的 ¥125.70 已原路退回您的{account}账户。"
        f"退款凭证：http://127.0.0.1:8000/api/v1/refunds/{refund.refund_no}/voucher/"
    )

    # Issued twice (a follow-up run again): one voucher.
    vouchers.refund_issue_voucher(refund_id=refund.pk)
    vouchers.refund_issue_voucher(refund_id=refund.pk)
    voucher = RefundVoucher.objects.get(refund=refund)
    stored = default_storage.open(voucher.file.name).read()
    assert stored.startswith(b"%PDF")
    assert hashlib.sha256(stored).hexdigest() == voucher.sha256
    link = api.get(f"/api/v1/refunds/{refund.refund_no}/voucher/").json()
    assert link["sha256"] == voucher.sha256 and link["expires_in"] == 300
    assert "X-Amz-Expires=300" in link["url"]
    downloaded = requests.get(link["url"], timeout=5)
    assert downloaded.status_code == 200 and downloaded.content == stored


def test_voucher_link_is_404_for_another_customer(api: Any, other_customer: Any) -> None:
    from tests.conftest import client_for

    assert api.get("/api/v1/refunds/R404/voucher/").status_code == 404
    assert client_for(other_customer).get("/api/v1/refunds/R404/voucher/").status_code == 404


def test_rejected_refund_fails_and_releases(api: Any, customer: Any, channel_simulator: Any) -> None:
    order = make_order(customer, status="paid", channel="alipay")  # never registered: the channel refuses
    item = order.items.first()
    refund = _apply_one_unit(api, order)
    assert jobs.refund_execute(refund.pk) == "failed"
    refund.refresh_from_db()
    item.refresh_from_db()
    assert refund.state == RefundState.FAILED
    assert item.refund_claimed_amount == Decimal("0.00")
    attempt = ChannelAttempt.objects.get(refund=refund)
    assert attempt.outcome == AttemptOutcome.REJECTED and attempt.error_code


def test_temporary_errors_retry_with_the_same_number_then_fail(
    api: Any, customer: Any, channel_simulator: Any, settings: Any
) -> None:
    from payments.channels.base import ChannelTemporaryError

    order = _paid_order_at_simulator(customer, "wechat", channel_simulator)
    refund = _apply_one_unit(api, order)
    # Three refund requests fail; queries are answered, and the last check finds no refund at the channel.
    simulator_client.add_fault(channel="wechat", kind="http_500", count=3, base_url=channel_simulator.url)
    for _ in range(settings.REFUND_CHANNEL_MAX_ATTEMPTS - 1):
        with pytest.raises(ChannelTemporaryError):
            services.refund_execute(refund_id=refund.pk)
    assert services.refund_execute(refund_id=refund.pk) == "failed"
    assert Refund.objects.get(pk=refund.pk).state == RefundState.FAILED
    ledger = simulator_client.ledger(base_url=channel_simulator.url)
    assert [r for r in ledger["refunds"] if r["out_refund_no"] == refund.out_refund_no] == []


def test_spent_retries_with_an_unknown_outcome_stay_refunding(
    api: Any, customer: Any, channel_simulator: Any, settings: Any
) -> None:
    from payments.channels.base import ChannelTemporaryError

    order = _paid_order_at_simulator(customer, "alipay", channel_simulator)
    refund = _apply_one_unit(api, order)
    # Every call fails four times in a row, queries included: the refund, two queries, and the final check.
    simulator_client.add_fault(
        channel="alipay", kind="http_500", count=4, operation="*", base_url=channel_simulator.url
    )
    for _ in range(settings.REFUND_CHANNEL_MAX_ATTEMPTS - 1):
        with pytest.raises(ChannelTemporaryError):
            services.refund_execute(refund_id=refund.pk)
    # The channel could not even be asked whether it holds the refund: nobody is told it failed.
    assert services.refund_execute(refund_id=refund.pk) == "unknown"
    assert Refund.objects.get(pk=refund.pk).state == RefundState.REFUNDING
    assert services.refund_execute(refund_id=refund.pk) == "refunded"  # the sweep's next try settles it
