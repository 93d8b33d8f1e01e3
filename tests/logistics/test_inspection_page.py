"""The inspection's page and the refund page's warehouse block: what arrived is recorded and the inspection
completed in three clicks (open, record, confirm), the amount the refund will pay is shown before anyone confirms,
quantities carry their unit, photos are pictures, and every refusal is shown at its field and changes nothing."""

from __future__ import annotations

import io
import re
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from logistics import services
from logistics.exceptions import InvalidInspection
from logistics.models import Inspection, InspectionPhoto, InspectionRecord, InspectionStatus, WriteOff
from mall.models import SaleUnit
from refunds.evidence import refund_add_evidence
from refunds.models import Refund, RefundEvent, RefundState
from tests.admin.conftest import login
from tests.admin.test_csp import assert_no_inline_code
from tests.factories import reload
from tests.fuzzing import NUMBERISH, fuzz, rolled_back
from tests.logistics.helpers import fruit, received_return

pytestmark = pytest.mark.django_db
S = RefundState


def _image(color: tuple[int, int, int] = (20, 160, 30), kind: str = "JPEG") -> SimpleUploadedFile:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), color).save(buffer, format=kind)
    return SimpleUploadedFile(f"p.{kind.lower()}", buffer.getvalue(), content_type=f"image/{kind.lower()}")


def _page_url(refund: Refund) -> str:
    return f"/admin/logistics/inspection/{Inspection.objects.get(refund=refund).pk}/change/"


def _row(refund: Refund, index: int = 0) -> str:
    return f"item-{refund.items.order_by('id')[index].order_item_id}"


def _snapshot(refund: Refund) -> tuple[Any, ...]:
    fresh = reload(refund)
    return (
        fresh.state,
        fresh.amount,
        tuple(InspectionRecord.objects.filter(refund=refund).values_list("order_item_id", "received_quantity")),
        InspectionPhoto.objects.filter(record__refund=refund).count(),
        Inspection.objects.get(refund=refund).status,
        RefundEvent.objects.filter(refund=refund).count(),
        WriteOff.objects.filter(refund=refund).count(),
    )


def _submit_value(html: str, element_id: str) -> tuple[str, bool]:
    match = re.search(rf'<input type="submit"[^>]*id="{element_id}" value="([^"]*)"( disabled)?>', html)
    assert match, element_id
    return match.group(1), bool(match.group(2))


def test_open_record_confirm_three_clicks_from_the_refund_page(customer: Any, agent: Any) -> None:
    refund = received_return(customer, agent, (fruit("30.00"), "4"))
    client = login(agent)
    refund_page = client.get(f"/admin/refunds/refund/{refund.pk}/change/").content.decode()
    page_url = _page_url(refund)

    # Click 1: the refund page's link lands on the page with the form and both actions.
    assert f'href="{page_url}" id="inspection-link">Record and complete the inspection</a>' in refund_page
    landing = client.get(page_url)
    assert landing.status_code == 200
    html = landing.content.decode()
    row = _row(refund)
    assert f'name="{row}-received_quantity" value="4"' in html  # pre-filled with what was claimed
    assert _submit_value(html, "inspection-complete-button") == ("Complete the inspection", True)
    assert 'name="record" value="Record, then check the amount"' in html
    assert '<link rel="stylesheet" href="/static/admin/css/forms.css">' in html
    assert 'id="inspection-record-first"' in html

    # Click 2: record (3 of the 4 came back): the page shows what the refund will pay before completing.
    response = client.post(
        page_url.replace("/change/", "/record/"),
        {f"{row}-received_quantity": "3", f"{row}-condition": "resellable", f"{row}-notes": "一个没寄回"},
    )
    assert response.status_code == 302
    assert response["Location"] == f"{page_url}#inspection-confirm"
    html = client.get(page_url).content.decode()
    assert re.search(r'id="inspection-claimed">¥120.00<', html)
    assert re.search(r'id="inspection-cut">¥30.00<', html)
    assert re.search(r'id="inspection-pays">¥90.00<', html)
    assert _submit_value(html, "inspection-complete-button") == ("Complete the inspection and refund ¥90.00", False)
    assert 'name="expected_amount" value="90.00"' in html
    assert "back to stock" in html  # what completing will do with the record
    assert reload(refund).amount == Decimal("120.00")  # nothing cut yet

    # Click 3: confirm.
    response = client.post(
        page_url.replace("/change/", "/complete/"), {"expected_amount": "90.00", "note": "已按实收退款"}
    )
    assert response.status_code == 302
    assert response["Location"] == f"/admin/refunds/refund/{refund.pk}/change/"
    assert [str(m) for m in get_messages(response.wsgi_request)][-1] == (
        f"{refund.refund_no}: inspection completed, refund ¥90.00"
    )
    fresh = reload(refund)
    assert (fresh.state, fresh.amount) == (S.REFUNDING, Decimal("90.00"))
    assert [e.note for e in RefundEvent.objects.filter(refund=refund, to_state=S.REFUNDING)] == ["已按实收退款"]
    inspection = Inspection.objects.get(refund=refund)
    assert (inspection.status, inspection.amount_before, inspection.amount_after, inspection.completed_by) == (
        InspectionStatus.COMPLETED,
        Decimal("120.00"),
        Decimal("90.00"),
        agent,
    )
    # Completed: recording or completing again is refused, says why, and changes nothing.
    before = _snapshot(refund)
    again = client.post(page_url.replace("/change/", "/complete/"), {"expected_amount": "90.00"})
    assert again.status_code == 409
    assert '<p class="errornote" id="inspection-error">This inspection is already completed.</p>' in (
        again.content.decode()
    )
    late = client.post(page_url.replace("/change/", "/record/"), {f"{row}-received_quantity": "1"})
    assert late.status_code == 409
    assert 'id="inspection-error">This inspection is already completed.</p>' in late.content.decode()
    assert _snapshot(refund) == before
    done = client.get(page_url).content.decode()
    assert 'id="inspection-record-form"' not in done and 'id="inspection-complete-form"' not in done
    assert re.search(r'id="inspection-pays">¥90.00<', done)


def test_recording_from_the_refund_page_leads_to_the_confirmation(customer: Any, agent: Any) -> None:
    refund = received_return(customer, agent, (fruit("30.00"), "2"))
    client = login(agent)
    html = client.get(f"/admin/refunds/refund/{refund.pk}/change/").content.decode()
    inspection = Inspection.objects.get(refund=refund)
    assert f'action="/admin/logistics/inspection/{inspection.pk}/record/"' in html
    row = _row(refund)
    assert f'name="{row}-received_quantity" value="2"' in html
    response = client.post(
        f"/admin/logistics/inspection/{inspection.pk}/record/",
        {f"{row}-received_quantity": "2", f"{row}-condition": "resellable"},
    )
    assert response["Location"] == f"{_page_url(refund)}#inspection-confirm"
    # Back on the refund page, what the refund will pay is known before completing, and leads to the confirmation.
    html = client.get(f"/admin/refunds/refund/{refund.pk}/change/").content.decode()
    assert re.search(r'id="inspection-panel-pays">¥60.00<', html)
    assert f'href="{_page_url(refund)}#inspection-confirm" id="inspection-confirm-link"' in html
    assert 'id="inspection-record-form"' not in html  # everything claimed is recorded
    response = client.post(
        f"/admin/logistics/inspection/{inspection.pk}/complete/", {"expected_amount": "60.00", "note": ""}
    )
    assert reload(refund).state == S.REFUNDING
    assert "inspection-link" not in client.get(f"/admin/refunds/refund/{refund.pk}/change/").content.decode()


def test_quantities_say_their_unit(customer: Any, agent: Any) -> None:
    weighed, counted = fruit("19.99", unit=SaleUnit.KILOGRAM), fruit("5.00")
    refund = received_return(customer, agent, (weighed, "2.5"), (counted, "3"))
    kg_row, piece_row = _row(refund, 0), _row(refund, 1)
    services.inspection_record(
        refund=refund,
        order_item_id=refund.items.order_by("id")[0].order_item_id,
        received_quantity=Decimal("2.35"),
        condition="resellable",
        inspector=agent,
    )
    html = login(agent).get(_page_url(refund)).content.decode()
    assert re.search(rf'<input type="number" name="{kg_row}-received_quantity" value="0.15"[^>]*step="0.001"', html)
    assert re.search(rf'<input type="number" name="{piece_row}-received_quantity" value="3"[^>]*step="1"', html)
    assert f'aria-label="{weighed.name}: Received (kg)"' in html
    assert f'aria-label="{counted.name}: Received (pcs)"' in html
    assert '<td class="num">2.5 kg</td>' in html and '<td class="num">2.35 kg</td>' in html
    assert '<td class="num">3 pcs</td>' in html

    chinese = Client(headers={"accept-language": "zh-hans"})
    chinese.force_login(agent)
    html = chinese.get(_page_url(refund)).content.decode()
    assert '<td class="num">3 件</td>' in html and '<td class="num">2.35 kg</td>' in html
    assert "记录并完成质检" in chinese.get(f"/admin/refunds/refund/{refund.pk}/change/").content.decode()


def test_photos_are_pictures_that_open_large(customer: Any, agent: Any, finance: Any, media_root: Any) -> None:
    refund = received_return(customer, agent, (fruit("30.00"), "2"))
    evidence = refund_add_evidence(refund=refund, actor=customer, upload=_image((200, 40, 40), "PNG"))
    upload = _image()
    record = services.inspection_record(
        refund=refund,
        order_item_id=refund.items.get().order_item_id,
        received_quantity=Decimal("2"),
        condition="spoiled",
        inspector=agent,
        photos=[upload],
    )
    photo = InspectionPhoto.objects.get(record=record)
    client = login(agent)
    url = f"/admin/logistics/inspection/photo/{photo.pk}/"
    for html in (
        client.get(_page_url(refund)).content.decode(),
        client.get(f"/admin/refunds/refund/{refund.pk}/change/").content.decode(),
    ):
        assert f'<a href="{url}" target="_blank" rel="noopener"><img src="{url}" alt="inspection photo 1"' in html
    html = client.get(_page_url(refund)).content.decode()
    evidence_url = f"/admin/refunds/refund/evidence/{evidence.pk}/"
    assert f'<a href="{evidence_url}" target="_blank" rel="noopener"><img src="{evidence_url}"' in html
    assert 'id="inspection-customer-words">烂了两个<' in html
    image = client.get(url)
    assert (image.status_code, image["Content-Type"]) == (200, "image/jpeg")
    upload.seek(0)
    assert b"".join(image.streaming_content) == upload.read()
    assert login(finance).get(url).status_code == 403
    assert client.get("/admin/logistics/inspection/photo/999999/").status_code == 404


def test_the_pages_have_no_inline_code(customer: Any, agent: Any) -> None:
    refund = received_return(customer, agent, (fruit("30.00"), "2"))
    client = login(agent)
    for url in (_page_url(refund), f"/admin/refunds/refund/{refund.pk}/change/", "/admin/logistics/inspection/"):
        response = client.get(url)
        assert response.status_code == 200, url
        assert_no_inline_code(response.content.decode())


def test_a_refused_record_is_shown_at_its_field_and_changes_nothing(customer: Any, agent: Any, media_root: Any) -> None:
    refund = received_return(customer, agent, (fruit("30.00"), "2"), (fruit("8.00"), "1"))
    first, second = _row(refund, 0), _row(refund, 1)
    client = login(agent)
    record_url = _page_url(refund).replace("/change/", "/record/")
    before = _snapshot(refund)

    # More than was claimed of the second item: the first line (with its photo) is not recorded either.
    response = client.post(
        record_url,
        {
            f"{first}-received_quantity": "2",
            f"{first}-condition": "resellable",
            f"{first}-photos": [_image()],
            f"{second}-received_quantity": "1.5",
            f"{second}-condition": "resellable",
        },
    )
    assert response.status_code == 400
    html = response.content.decode()
    # The error sits at the field, and what was typed stays.
    assert (
        f'<ul class="errorlist" id="id_{second}-received_quantity_error"><li>This item is counted in whole pieces.'
        f'</li></ul><input type="number" name="{second}-received_quantity" value="1.5"'
    ) in html
    assert _snapshot(refund) == before
    assert [path for path in media_root.rglob("*") if path.is_file()] == []  # the first line's photo is gone too

    response = client.post(record_url, {f"{first}-received_quantity": "3", f"{first}-condition": "resellable"})
    assert response.status_code == 400
    assert "More than the 2 pcs claimed of this item." in response.content.decode()
    response = client.post(record_url, {f"{first}-received_quantity": "", f"{second}-received_quantity": "0"})
    assert response.status_code == 400
    assert '<p class="errornote">Give the quantity received of at least one item.</p>' in response.content.decode()
    response = client.post(record_url, {f"{first}-received_quantity": "1", f"{first}-condition": "eaten"})
    assert response.status_code == 400
    assert _snapshot(refund) == before


def test_several_items_are_recorded_at_once_or_not_at_all(customer: Any, agent: Any) -> None:
    refund = received_return(customer, agent, (fruit("30.00"), "2"), (fruit("8.00"), "1"))
    first, second = refund.items.order_by("id")
    lines = [
        services.RecordLine(first.order_item_id, Decimal("2"), "resellable"),
        services.RecordLine(second.order_item_id, Decimal("2"), "spoiled"),
    ]
    with pytest.raises(InvalidInspection) as refused:
        services.inspection_record_lines(refund=refund, lines=lines, inspector=agent)
    assert (refused.value.field, refused.value.params) == ("quantity", {"line": 1})
    assert not InspectionRecord.objects.filter(refund=refund).exists()
    lines[1] = services.RecordLine(second.order_item_id, Decimal("1"), "spoiled", notes="压坏")
    records = services.inspection_record_lines(refund=refund, lines=lines, inspector=agent)
    assert [(r.order_item_id, r.received_quantity, r.condition, r.notes) for r in records] == [
        (first.order_item_id, Decimal("2.000"), "resellable", ""),
        (second.order_item_id, Decimal("1.000"), "spoiled", "压坏"),
    ]


def test_a_changed_amount_is_not_completed_unseen(customer: Any, agent: Any) -> None:
    refund = received_return(customer, agent, (fruit("30.00"), "4"))
    client = login(agent)
    row = _row(refund)
    record_url = _page_url(refund).replace("/change/", "/record/")
    client.post(record_url, {f"{row}-received_quantity": "3", f"{row}-condition": "resellable"})
    shown = client.get(_page_url(refund)).content.decode()
    assert 'name="expected_amount" value="90.00"' in shown
    # Someone records the fourth piece meanwhile: the refund would now pay ¥120.00, not the ¥90.00 shown.
    client.post(record_url, {f"{row}-received_quantity": "1", f"{row}-condition": "spoiled"})
    before = _snapshot(refund)
    complete_url = _page_url(refund).replace("/change/", "/complete/")
    response = client.post(complete_url, {"expected_amount": "90.00", "note": ""})
    assert response.status_code == 409
    html = response.content.decode()
    assert (
        '<p class="errornote" id="inspection-complete-error">The refund would now pay ¥120.00, not what was shown: '
        "look at the inspection again.</p>" in html
    )
    assert _submit_value(html, "inspection-complete-button") == ("Complete the inspection and refund ¥120.00", False)
    assert _snapshot(refund) == before
    response = client.post(complete_url, {"expected_amount": "abc"})
    assert response.status_code == 400
    assert _snapshot(refund) == before
    assert client.post(complete_url, {"expected_amount": "120.00"}).status_code == 302
    assert reload(refund).state == S.REFUNDING


def test_a_large_cut_is_left_to_a_supervisor(customer: Any, agent: Any, supervisor: Any) -> None:
    refund = received_return(customer, agent, (fruit("30.00"), "4"))
    row = _row(refund)
    agent_client = login(agent)
    agent_client.post(
        _page_url(refund).replace("/change/", "/record/"),
        {f"{row}-received_quantity": "2", f"{row}-condition": "resellable"},
    )
    html = agent_client.get(_page_url(refund)).content.decode()
    assert 'id="inspection-needs-supervisor"' in html
    assert _submit_value(html, "inspection-complete-button") == ("Complete the inspection and refund ¥60.00", True)
    before = _snapshot(refund)
    complete_url = _page_url(refund).replace("/change/", "/complete/")
    response = agent_client.post(complete_url, {"expected_amount": "60.00"})
    assert response.status_code == 403
    assert "Cutting more than 30% of the refund needs a supervisor." in response.content.decode()
    assert _snapshot(refund) == before

    html = login(supervisor).get(_page_url(refund)).content.decode()
    assert _submit_value(html, "inspection-complete-button") == ("Complete the inspection and refund ¥60.00", False)
    assert login(supervisor).post(complete_url, {"expected_amount": "60.00"}).status_code == 302
    assert (reload(refund).state, reload(refund).amount) == (S.REFUNDING, Decimal("60.00"))


def test_finance_reads_the_inspection_but_cannot_work_it(customer: Any, agent: Any, finance: Any) -> None:
    refund = received_return(customer, agent, (fruit("30.00"), "2"))
    client = login(finance)
    html = client.get(_page_url(refund)).content.decode()
    assert 'id="inspection-refund"' in html
    assert 'id="inspection-record-form"' not in html and 'id="inspection-complete-form"' not in html
    assert (
        'id="inspection-record-form"' not in client.get(f"/admin/refunds/refund/{refund.pk}/change/").content.decode()
    )
    before = _snapshot(refund)
    row = _row(refund)
    base = _page_url(refund).replace("/change/", "")
    assert client.post(f"{base}/record/", {f"{row}-received_quantity": "2"}).status_code == 403
    assert client.post(f"{base}/complete/", {"expected_amount": "60.00"}).status_code == 403
    assert _snapshot(refund) == before


def test_the_page_answers_in_a_bounded_number_of_queries(
    customer: Any, agent: Any, django_assert_max_num_queries: Any
) -> None:
    products = [fruit("10.00") for _ in range(4)]
    refund = received_return(customer, agent, *[(product, "2") for product in products])
    lines = [services.RecordLine(item.order_item_id, Decimal("2"), "resellable") for item in refund.items.all()]
    services.inspection_record_lines(refund=refund, lines=lines, inspector=agent)
    client = login(agent)
    client.get(_page_url(refund))
    with django_assert_max_num_queries(16):
        assert client.get(_page_url(refund)).status_code == 200


def test_an_old_record_link_and_unknown_ids(customer: Any, agent: Any) -> None:
    refund = received_return(customer, agent, (fruit("30.00"), "2"))
    client = login(agent)
    record_url = _page_url(refund).replace("/change/", "/record/")
    assert client.get(record_url)["Location"] == _page_url(refund)
    assert client.post("/admin/logistics/inspection/999999/record/", {}).status_code == 404
    assert client.post("/admin/logistics/inspection/999999/complete/", {}).status_code == 404
    assert client.get(_page_url(refund).replace("/change/", "/complete/")).status_code == 405


def test_inspection_forms_never_answer_5xx(customer: Any, agent: Any, supervisor: Any) -> None:
    refund = received_return(customer, agent, (fruit("30.00", unit=SaleUnit.KILOGRAM), "2"), (fruit("5.00"), "3"))
    first, second = _row(refund, 0), _row(refund, 1)
    client = login(supervisor)
    base = _page_url(refund).replace("/change/", "")
    text = st.text(max_size=20) | st.sampled_from(["a" * 501, "桃" * 200, "\x00"])
    values = NUMBERISH | st.sampled_from(["2", "2.0001", "3", "0.5", "9" * 14])
    rows = st.fixed_dictionaries(
        {},
        optional={
            f"{first}-received_quantity": values,
            f"{first}-condition": st.sampled_from(["resellable", "spoiled", "discount", "x"]),
            f"{first}-notes": text,
            f"{second}-received_quantity": values,
            f"{second}-condition": st.sampled_from(["resellable", "spoiled", "", "x"]),
        },
    )
    requests = st.tuples(st.just(f"{base}/record/"), rows) | st.tuples(
        st.just(f"{base}/complete/"),
        st.fixed_dictionaries({}, optional={"expected_amount": values, "note": text}),
    )

    @fuzz(120)
    @given(request=requests)
    def check(request: tuple[str, dict[str, str]]) -> None:
        url, data = request
        with rolled_back():
            before = _snapshot(refund)
            response = client.post(url, data)
            assert response.status_code < 500, (url, data, response.status_code)
            if response.status_code != 302:
                assert _snapshot(refund) == before, (url, data)

    check()
    assert _snapshot(refund)[0] == S.INSPECTING
