"""A refund the channel could not pay, paid by bank transfer: an agent chooses it on the refund page and says whom
to pay; finance records the bank's reference and a proof on the transfer's page, and the refund is refunded with
destination `offline`. The person who chose it never confirms it (the service, the console and the database each
refuse), and every refused input changes nothing: not the refund, not the transfer's row, not the storage."""

from __future__ import annotations

import hashlib
import io
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import Group
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import IntegrityError, transaction
from django.test import Client
from PIL import Image

from mall.models import OrderStatus
from mall.roles import CUSTOMER_SERVICE, FINANCE
from payments import jobs
from payments.exceptions import TransferForbidden, TransferInvalid, TransferNotAllowed
from payments.models import OfflineTransfer
from payments.offline import offline_transfer_confirm, offline_transfer_request
from payments.simulator import client as simulator_client
from refunds import flow
from refunds.exceptions import RefundNotAllowed, ReviewForbidden
from refunds.models import Refund, RefundDestination, RefundEvent, RefundState
from tests.admin.conftest import failed_refund
from tests.admin.test_actions import buttons, page
from tests.factories import reload, staff_user
from tests.payments.helpers import console, said
from tests.payments.test_dead_channel import failed_on_dead_path

pytestmark = pytest.mark.django_db

PAYEE = "Zhang San, ICBC Shanghai, 6222 0210 0000 1234"


def png_proof(name: str = "receipt.png") -> SimpleUploadedFile:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 220, 240)).save(buffer, format="PNG")
    return SimpleUploadedFile(name, buffer.getvalue(), content_type="image/png")


def stored(media_root: Path) -> list[Path]:
    return sorted(p for p in media_root.rglob("*") if p.is_file()) if media_root.exists() else []


def transfer_url(refund: Refund, what: str = "change") -> str:
    transfer = OfflineTransfer.objects.get(refund=refund)
    return f"/admin/payments/offlinetransfer/{transfer.pk}/{what}/"


def confirm(client: Client, refund: Refund, reference: str, proof: Any) -> list[str]:
    data: dict[str, Any] = {"reference": reference}
    if proof is not None:
        data["proof"] = proof
    return said(client, transfer_url(refund, "confirm"), data)


def choose(client: Client, refund: Refund, act: str, note: str = "") -> list[str]:
    return said(client, f"/admin/refunds/refund/{refund.pk}/act/{act}/", {"note": note})


def state_of(refund: Refund) -> tuple[Any, ...]:
    fresh = reload(refund)
    transfer = OfflineTransfer.objects.filter(refund=refund).values_list(
        "payee", "requested_by", "reference", "proof", "proof_sha256", "confirmed_by", "confirmed_at"
    )
    claimed = [item.refund_claimed_amount for item in fresh.order.items.order_by("pk")]
    return fresh.state, fresh.destination, list(transfer), claimed, RefundEvent.objects.filter(refund=refund).count()


def test_a_dead_refund_paid_by_bank_transfer_end_to_end(
    api: Any, customer: Any, agent: Any, finance: Any, patient_simulator: Any, media_root: Path
) -> None:
    refund = failed_on_dead_path(api, customer, "wechat", "ABNORMAL", patient_simulator)
    agent_client, finance_client = console(agent), console(finance)

    # The agent: on the refund page, whom to pay and one click.
    refused = agent_client.post(f"/admin/refunds/refund/{refund.pk}/act/offline/", {"note": ""})
    assert refused.status_code == 400 and "请填写收款人：姓名、开户行和账号。" in refused.content.decode()
    assert reload(refund).state == RefundState.FAILED and not OfflineTransfer.objects.exists()
    assert choose(agent_client, refund, "offline", PAYEE) == [
        f"线下银行转账：退款 {refund.refund_no} 当前状态为“待线下转账”。"
    ]
    refund = reload(refund)
    assert (refund.state, refund.destination) == (RefundState.AWAITING_TRANSFER, RefundDestination.OFFLINE)
    transfer = OfflineTransfer.objects.get(refund=refund)
    assert (transfer.amount, transfer.payee, transfer.requested_by_id) == (Decimal("79.80"), PAYEE, agent.pk)
    assert refund.order.items.get().refund_claimed_amount == Decimal("79.80")  # the money is held again
    detail = api.get(f"/api/v1/refunds/{refund.refund_no}/")
    assert detail.json()["timeline"][-1]["note"] == "改为线下银行转账，等待财务付款"
    assert detail.json()["destination"] == "offline"
    assert "6222" not in detail.content.decode()  # the payee's account is for finance only
    html = page(agent_client, refund)
    assert buttons(html) == []
    assert 'id="transfer-hint"' in html and 'id="record-transfer"' not in html

    # The agent may see the transfer, not record it.
    transfer_page = agent_client.get(transfer_url(refund)).content.decode()
    assert PAYEE in transfer_page and 'id="transfer-confirm"' not in transfer_page
    before = state_of(refund)
    assert (
        agent_client.post(transfer_url(refund, "confirm"), {"reference": "B1", "proof": png_proof()}).status_code == 403
    )
    assert state_of(refund) == before and stored(media_root) == []

    # Finance: from the refund page (or the list of transfers) to the transfer's page, reference, proof, confirm.
    assert 'id="record-transfer"' in page(finance_client, refund)
    listed = finance_client.get("/admin/payments/offlinetransfer/?status=awaiting").content.decode()
    assert refund.refund_no in listed and "¥79.80" in listed
    assert 'id="transfer-confirm"' in finance_client.get(transfer_url(refund)).content.decode()
    proof = png_proof()
    assert confirm(finance_client, refund, "  ICBC20261205001 ", proof) == [
        f"已登记 ¥79.80 的转账：退款 {refund.refund_no} 已完成。"
    ]

    refund = reload(refund)
    assert (refund.state, refund.destination) == (RefundState.REFUNDED, RefundDestination.OFFLINE)
    assert refund.order.status == OrderStatus.PARTIALLY_REFUNDED
    transfer.refresh_from_db()
    assert (transfer.reference, transfer.confirmed_by_id, transfer.proof_content_type) == (
        "ICBC20261205001",
        finance.pk,
        "image/png",
    )
    proof.seek(0)
    data = proof.read()
    assert transfer.proof_sha256 == hashlib.sha256(data).hexdigest()
    [kept] = stored(media_root)
    assert kept.read_bytes() == data and kept.name == f"{refund.refund_no}-{transfer.proof_sha256[:12]}.png"
    download = finance_client.get(transfer_url(refund, "proof"))
    assert download.status_code == 200 and b"".join(download.streaming_content) == data
    detail = api.get(f"/api/v1/refunds/{refund.refund_no}/").json()
    assert (detail["state"], detail["destination"], detail["destination_display"]) == (
        "refunded",
        "offline",
        "线下银行转账",
    )
    assert detail["timeline"][-1]["note"] == "已通过银行转账退款，流水号 ICBC20261205001"
    events = list(RefundEvent.objects.filter(refund=refund).values_list("from_state", "to_state", "actor_id"))
    assert events[-2:] == [("failed", "awaiting_transfer", agent.pk), ("awaiting_transfer", "refunded", finance.pk)]
    # The channel was asked once, and booked only the refund it could not pay.
    booked = simulator_client.ledger(base_url=patient_simulator.url)["refunds"]
    assert [r["status"] for r in booked] == ["ABNORMAL"]
    assert jobs.refund_execute(refund.pk) == "skipped: refunded"
    message = jobs.notify_refunded(refund)
    voucher = f"{settings.SHOP_URL.rstrip('/')}/api/v1/refunds/{refund.refund_no}/voucher/"
    assert message.body == f"订单 {refund.order.order_no} 的 ¥79.80 已通过银行转账付给您。退款凭证：{voucher}"

    # Recorded once: a second confirmation is refused and changes nothing.
    before = state_of(refund)
    assert confirm(finance_client, refund, "ICBC20261205002", png_proof()) == ["这笔退款不在等待银行转账。"]
    assert state_of(refund) == before and stored(media_root) == [kept]


def test_the_person_who_chose_the_transfer_never_confirms_it(supervisor: Any, media_root: Path) -> None:
    both = staff_user(CUSTOMER_SERVICE, "agent-and-finance")
    both.groups.add(Group.objects.get(name=FINANCE))
    both = type(both).objects.get(pk=both.pk)
    refund = offline_transfer_request(refund=failed_refund(supervisor), actor=both, note=PAYEE)
    client = console(both, "en")

    transfer_page = client.get(transfer_url(refund)).content.decode()
    assert 'id="transfer-confirm"' not in transfer_page
    assert "You chose this transfer: another person must confirm it." in transfer_page
    before = state_of(refund)
    assert confirm(client, refund, "B77", png_proof()) == ["You chose this transfer: another person must confirm it."]
    with pytest.raises(TransferForbidden):
        offline_transfer_confirm(refund=refund, actor=both, reference="B77", proof=png_proof())
    assert state_of(refund) == before and stored(media_root) == []
    # Nor may the database be talked into it.
    with pytest.raises(IntegrityError), transaction.atomic():
        OfflineTransfer.objects.filter(refund=refund).update(confirmed_by=both)
    assert state_of(refund) == before


def oversized_png() -> SimpleUploadedFile:
    return SimpleUploadedFile("big.png", b"\x89PNG" + b"\0" * (5 * 1024 * 1024), content_type="image/png")


@pytest.mark.parametrize(
    ("reference", "proof", "message"),
    [
        ("", png_proof, "This field is required."),
        ("B1", None, "This field is required."),
        (
            "B1",
            lambda: SimpleUploadedFile("r.txt", b"paid, trust me", "text/plain"),
            "The proof must be a PDF or a JPEG, PNG or WebP picture.",
        ),
        ("B1", oversized_png, "The proof is larger than 5 MB."),
        ("B" * 65, png_proof, "Ensure this value has at most 64 characters (it has 65)."),
        ("B1", lambda: SimpleUploadedFile("empty.pdf", b"", "application/pdf"), "The submitted file is empty."),
    ],
    ids=["no-reference", "no-proof", "not-a-picture", "too-large", "reference-too-long", "empty-file"],
)
def test_what_finance_gets_wrong_is_refused_and_changes_nothing(
    agent: Any, finance: Any, supervisor: Any, media_root: Path, reference: str, proof: Any, message: str
) -> None:
    refund = offline_transfer_request(refund=failed_refund(supervisor), actor=agent, note=PAYEE)
    before = state_of(refund)
    assert confirm(console(finance, "en"), refund, reference, proof() if proof else None) == [message]
    assert state_of(refund) == before
    assert stored(media_root) == []


def test_the_services_refuse_what_the_console_would_not_offer(
    agent: Any, finance: Any, supervisor: Any, media_root: Path
) -> None:
    failed = failed_refund(supervisor)
    before = state_of(failed)
    with pytest.raises(ReviewForbidden):  # finance does not decide how a refund is paid
        offline_transfer_request(refund=failed, actor=finance, note=PAYEE)
    with pytest.raises(TransferInvalid) as no_payee:
        offline_transfer_request(refund=failed, actor=agent, note="   ")
    assert no_payee.value.field == "note"
    with pytest.raises(TransferInvalid):
        offline_transfer_request(refund=failed, actor=agent, note="x" * 256)
    assert state_of(failed) == before
    with pytest.raises(TransferNotAllowed):  # nothing was chosen yet
        offline_transfer_confirm(refund=failed, actor=finance, reference="B1", proof=png_proof())
    refunded = flow.refund_mark_refunded(refund=failed_refund(supervisor))
    with pytest.raises(RefundNotAllowed):
        offline_transfer_request(refund=refunded, actor=agent, note=PAYEE)
    chosen = offline_transfer_request(refund=failed, actor=agent, note=PAYEE)
    with pytest.raises(TransferForbidden):  # an agent does not record transfers
        offline_transfer_confirm(refund=chosen, actor=supervisor, reference="B1", proof=png_proof())
    with pytest.raises(TransferInvalid) as blank:
        offline_transfer_confirm(refund=chosen, actor=finance, reference=" ", proof=png_proof())
    assert blank.value.field == "reference"
    assert reload(chosen).state == RefundState.AWAITING_TRANSFER and stored(media_root) == []
    pdf = SimpleUploadedFile("receipt.pdf", b"%PDF-1.4\n% bank receipt\n%%EOF\n", content_type="application/pdf")
    transfer = offline_transfer_confirm(refund=chosen, actor=finance, reference="B1", proof=pdf)
    assert (transfer.proof_content_type, transfer.proof.name.endswith(".pdf")) == ("application/pdf", True)


def test_finance_gives_up_on_a_transfer_and_the_refund_waits_for_a_person_again(
    agent: Any, finance: Any, supervisor: Any, media_root: Path
) -> None:
    refund = offline_transfer_request(refund=failed_refund(supervisor), actor=agent, note=PAYEE)
    client = console(finance)
    before = state_of(refund)
    assert said(client, transfer_url(refund, "abandon"), {"note": ""}) == ["请说明无法转账的原因。"]
    assert state_of(refund) == before
    assert console(agent).post(transfer_url(refund, "abandon"), {"note": "no"}).status_code == 403
    assert state_of(refund) == before

    assert said(client, transfer_url(refund, "abandon"), {"note": "账户不存在"}) == [
        f"退款 {refund.refund_no} 已退回客服处理。"
    ]
    refund = reload(refund)
    assert refund.state == RefundState.FAILED
    assert [item.refund_claimed_amount for item in refund.order.items.all()] == [Decimal("0.00")]
    assert RefundEvent.objects.filter(refund=refund).last().note == "无法完成银行转账：账户不存在"  # type: ignore[union-attr]

    # The agent chooses again: sent to the channel this time, the destination is the original payment again.
    choose(console(agent), refund, "retry")
    refund = reload(refund)
    assert (refund.state, refund.destination) == (RefundState.REFUNDING, RefundDestination.ORIGINAL)


def test_a_transfer_still_awaited_is_dropped_when_the_channel_paid_after_all(
    agent: Any, finance: Any, supervisor: Any, media_root: Path
) -> None:
    refund = offline_transfer_request(refund=failed_refund(supervisor), actor=agent, note=PAYEE)
    # A late confirmation from the channel (a notification, a query) arrives before finance transfers.
    refund = flow.refund_mark_refunded(refund=refund, channel_refund_id="CH9")
    assert (refund.state, refund.destination) == (RefundState.REFUNDED, RefundDestination.ORIGINAL)
    before = state_of(refund)
    with pytest.raises(TransferNotAllowed):
        offline_transfer_confirm(refund=refund, actor=finance, reference="B1", proof=png_proof())
    assert state_of(refund) == before and stored(media_root) == []
    assert 'id="transfer-confirm"' not in console(finance).get(transfer_url(refund)).content.decode()
