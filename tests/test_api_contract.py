"""The API schema (/api/schema/) against the API itself: every response the schema documents, for every operation
and status code, is produced by a real call and its body validated against the documented schema (OpenAPI 3.0,
``openapi-schema-validator``), with no field the schema does not name. And what the schema says of itself: public
descriptions only, amounts as decimal strings."""

from __future__ import annotations

import copy
import io
import re
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone
from openapi_schema_validator import OAS30ReadValidator, oas30_format_checker
from PIL import Image
from rest_framework.settings import api_settings
from rest_framework.test import APIClient
from rest_framework.throttling import ScopedRateThrottle

from logistics import jobs as logistics_jobs
from logistics.models import Warehouse
from notices.catalogue import MessageEvent
from notices.services import customer_notify
from payments import vouchers
from refunds import flow
from refunds import services as refund_services
from refunds.models import Refund, RefundState
from tests.carrier_simulator import (  # noqa: F401 - the replacement shown in a refund's detail is shipped for real
    carrier_inbox,
    carrier_inbox_server,
    carrier_secret,
    carrier_simulator,
    carrier_simulator_server,
)
from tests.conftest import client_for
from tests.factories import ProductFactory, make_order

pytestmark = pytest.mark.django_db

SCHEMA_URL = "/api/schema/"
JSON = "application/vnd.oai.openapi+json"


@pytest.fixture
def schema() -> dict[str, Any]:
    response = Client().get(SCHEMA_URL, HTTP_ACCEPT=JSON)
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    assert document["openapi"].startswith("3.0")
    return document


def _closed(schema: Any) -> Any:
    """The schema with every object closed to properties it does not name (the schema must name all of them)."""
    if isinstance(schema, dict):
        closed = {key: _closed(value) for key, value in schema.items()}
        if "properties" in closed and "additionalProperties" not in closed:
            closed["additionalProperties"] = False
        return closed
    if isinstance(schema, list):
        return [_closed(value) for value in schema]
    return schema


class Contract:
    """Checks real responses against the schema and remembers which documented responses were seen."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.components = _closed(copy.deepcopy(document["components"]))
        self.seen: set[tuple[str, str, str]] = set()
        self.templates = [
            (re.compile("^" + re.sub(r"\{[^/]+\}", "[^/]+", path) + "$"), path) for path in document["paths"]
        ]

    def template(self, url: str) -> str:
        path = url.split("?", 1)[0]
        matches = [template for pattern, template in self.templates if pattern.match(path)]
        assert len(matches) == 1, f"{path} matches {matches}"
        return matches[0]

    def check(self, response: Any, method: str, url: str, status: int) -> Any:
        template = self.template(url)
        assert response.status_code == status, (method, url, response.content[:500])
        operation = self.document["paths"][template][method]
        documented = operation["responses"].get(str(status))
        assert documented is not None, f"{method.upper()} {template} answered {status}, which is not documented"
        body = response.json()
        media = documented.get("content", {}).get("application/json")
        assert media is not None, f"{method.upper()} {template} {status} documents no JSON body"
        validator = OAS30ReadValidator(
            {**_closed(media["schema"]), "components": self.components}, format_checker=oas30_format_checker
        )
        errors = sorted(validator.iter_errors(body), key=lambda error: list(error.path))
        assert not errors, f"{method.upper()} {template} {status}: " + "; ".join(
            f"{list(error.path)}: {error.message}" for error in errors[:5]
        )
        self.seen.add((method, template, str(status)))
        return body

    def documented(self) -> set[tuple[str, str, str]]:
        return {
            (method, path, status)
            for path, operations in self.document["paths"].items()
            for method, operation in operations.items()
            for status in operation["responses"]
        }


def _png() -> SimpleUploadedFile:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(buffer, format="PNG")
    return SimpleUploadedFile("photo.png", buffer.getvalue(), content_type="image/png")


@pytest.mark.usefixtures("carrier_simulator", "media_root")
def test_every_documented_response_is_what_the_api_answers(
    schema: dict[str, Any], customer: Any, other_customer: Any, agent: Any
) -> None:
    contract = Contract(schema)
    api, anon, other = client_for(customer), APIClient(), client_for(other_customer)
    Warehouse.objects.create(name="上海退货仓", contact="李", phone="021-1", address="上海", is_default=True)
    delivered = make_order(customer, lines=[(ProductFactory(price=Decimal("30.00")), "6")], status="delivered")
    paid = make_order(customer, status="paid", shipping_fee="8.00")
    line = delivered.items.get()

    def apply(order: Any, kind: str, quantity: str, reason: str = "quality_issue") -> dict[str, Any]:
        item = order.items.first()
        body = {"order_no": order.order_no, "reason": reason, "kind": kind}
        body["items"] = [{"order_item_id": item.pk, "quantity": quantity}]
        return contract.check(api.post("/api/v1/refunds/", body, format="json"), "post", "/api/v1/refunds/", 201)

    # Orders.
    contract.check(api.get("/api/v1/orders/"), "get", "/api/v1/orders/", 200)
    contract.check(anon.get("/api/v1/orders/"), "get", "/api/v1/orders/", 401)
    one_order = f"/api/v1/orders/{delivered.order_no}/"
    order_body = contract.check(api.get(one_order), "get", one_order, 200)
    assert order_body["refundable_amount"] == "180.00"
    contract.check(anon.get(one_order), "get", one_order, 401)
    contract.check(other.get(one_order), "get", one_order, 404)

    # Applications: a replacement shipped for real, a return, a refund paid back with its voucher.
    replacement = apply(delivered, "replacement", "1")
    returning = apply(delivered, "return_and_refund", "1")
    quality = apply(delivered, "refund_only", "1")
    unshipped = apply(paid, "refund_only", "1", reason="not_shipped")
    bad_item = {"order_no": delivered.order_no, "reason": "quality_issue", "kind": "refund_only"}
    bad_item["items"] = [{"order_item_id": "one", "quantity": "1"}]
    invalid = contract.check(api.post("/api/v1/refunds/", bad_item, format="json"), "post", "/api/v1/refunds/", 400)
    assert list(invalid["fields"]) == ["items"]
    contract.check(anon.post("/api/v1/refunds/", {}, format="json"), "post", "/api/v1/refunds/", 401)
    missing = {"order_no": "O404", "reason": "not_shipped", "kind": "refund_only"}
    missing["items"] = [{"order_item_id": line.pk, "quantity": "1"}]
    contract.check(api.post("/api/v1/refunds/", missing, format="json"), "post", "/api/v1/refunds/", 404)
    too_much = {"order_no": delivered.order_no, "reason": "quality_issue", "kind": "refund_only"}
    too_much["items"] = [{"order_item_id": line.pk, "quantity": "6"}]
    contract.check(api.post("/api/v1/refunds/", too_much, format="json"), "post", "/api/v1/refunds/", 409)

    for refund_no in (replacement["refund_no"], returning["refund_no"]):
        refund_services.refund_approve(refund=Refund.objects.get(refund_no=refund_no), actor=agent)
    replaced = Refund.objects.get(refund_no=replacement["refund_no"])
    logistics_jobs.replacement_ship(replaced.pk)
    paid_back = Refund.objects.get(refund_no=unshipped["refund_no"])
    flow.refund_mark_refunded(refund=paid_back, channel_refund_id="2026120522001")
    vouchers.refund_issue_voucher(refund_id=paid_back.pk)

    # Lists and details.
    contract.check(api.get("/api/v1/refunds/"), "get", "/api/v1/refunds/", 200)
    contract.check(anon.get("/api/v1/refunds/"), "get", "/api/v1/refunds/", 401)
    detail = f"/api/v1/refunds/{replacement['refund_no']}/"
    shown = contract.check(api.get(detail), "get", detail, 200)
    assert shown["state"] == "replacing" and shown["replacement"]["tracking_no"]
    contract.check(anon.get(detail), "get", detail, 401)
    contract.check(other.get(detail), "get", detail, 404)

    # Evidence.
    evidence = f"/api/v1/refunds/{quality['refund_no']}/evidence/"
    photo = {"file": _png()}
    uploaded = contract.check(api.post(evidence, photo, format="multipart"), "post", evidence, 201)
    assert uploaded["evidence"][0]["uploaded_at"].endswith("+08:00")
    not_a_photo = {"file": SimpleUploadedFile("photo.png", b"not a photo")}
    contract.check(api.post(evidence, not_a_photo, format="multipart"), "post", evidence, 400)
    contract.check(anon.post(evidence, {}, format="multipart"), "post", evidence, 401)
    contract.check(other.post(evidence, {}, format="multipart"), "post", evidence, 404)
    closed = f"/api/v1/refunds/{unshipped['refund_no']}/evidence/"
    contract.check(api.post(closed, {"file": _png()}, format="multipart"), "post", closed, 409)

    # Where to send goods back, and how they go.
    address = f"/api/v1/refunds/{returning['refund_no']}/return-address/"
    contract.check(api.get(address), "get", address, 200)
    contract.check(anon.get(address), "get", address, 401)
    contract.check(other.get(address), "get", address, 404)
    no_return = f"/api/v1/refunds/{quality['refund_no']}/return-address/"
    contract.check(api.get(no_return), "get", no_return, 409)
    send_back = f"/api/v1/refunds/{returning['refund_no']}/return-shipment/"
    contract.check(api.post(send_back, {"carrier": "SF", "tracking_no": "!"}), "post", send_back, 400)
    contract.check(anon.post(send_back, {}), "post", send_back, 401)
    contract.check(other.post(send_back, {}), "post", send_back, 404)
    contract.check(api.post(send_back, {"carrier": "SF", "tracking_no": "SF12345678"}), "post", send_back, 200)
    contract.check(api.post(send_back, {"carrier": "SF", "tracking_no": "SF12345678"}), "post", send_back, 409)

    # The voucher.
    voucher = f"/api/v1/refunds/{unshipped['refund_no']}/voucher/"
    link = contract.check(api.get(voucher), "get", voucher, 200)
    contract.check(anon.get(voucher), "get", voucher, 401)
    contract.check(other.get(voucher), "get", voucher, 404)
    no_voucher = f"/api/v1/refunds/{quality['refund_no']}/voucher/"
    contract.check(api.get(no_voucher), "get", no_voucher, 409)
    download = Client().get(link["url"])
    assert download.status_code == 200
    assert download["Content-Disposition"] == f'attachment; filename="{unshipped["refund_no"]}.pdf"'

    # Withdrawal.
    cancel = f"/api/v1/refunds/{quality['refund_no']}/cancel/"
    contract.check(anon.post(cancel), "post", cancel, 401)
    contract.check(other.post(cancel), "post", cancel, 404)
    contract.check(api.post(cancel), "post", cancel, 200)
    contract.check(api.post(cancel), "post", cancel, 409)

    # Disputes: of a rejected refund.
    rejected = apply(delivered, "refund_only", "1")
    refund_services.refund_reject(
        refund=Refund.objects.get(refund_no=rejected["refund_no"]), actor=agent, note="no damage in the photos"
    )
    dispute = f"/api/v1/refunds/{rejected['refund_no']}/dispute/"
    contract.check(api.post(dispute, {"reason": ""}), "post", dispute, 400)
    contract.check(anon.post(dispute, {"reason": "x"}), "post", dispute, 401)
    contract.check(other.post(dispute, {"reason": "x"}), "post", dispute, 404)
    contract.check(api.post(dispute, {"reason": "两个都烂了"}), "post", dispute, 201)
    contract.check(api.post(dispute, {"reason": "again"}), "post", dispute, 409)
    contract.check(api.get(dispute), "get", dispute, 200)
    contract.check(anon.get(dispute), "get", dispute, 401)
    contract.check(other.get(dispute), "get", dispute, 404)

    # The inbox and the store credit.
    told = customer_notify(
        refund=Refund.objects.get(refund_no=quality["refund_no"]),
        event=MessageEvent.APPROVED,
        params={"order_no": delivered.order_no, "amount": "10.00"},
    )
    inbox = "/api/v1/notifications/"
    contract.check(api.get(inbox), "get", inbox, 200)
    contract.check(anon.get(inbox), "get", inbox, 401)
    read = f"/api/v1/notifications/{told.pk}/read/"
    contract.check(anon.post(read), "post", read, 401)
    contract.check(other.post(read), "post", read, 404)
    contract.check(api.post(read), "post", read, 200)
    credit = "/api/v1/store-credit/"
    contract.check(api.get(credit), "get", credit, 200)
    contract.check(anon.get(credit), "get", credit, 401)

    # Too many applications.
    with_throttle = Contract(schema)
    original = ScopedRateThrottle.THROTTLE_RATES
    ScopedRateThrottle.THROTTLE_RATES = {**api_settings.DEFAULT_THROTTLE_RATES, "refund_apply": "1/min"}
    try:
        api.post("/api/v1/refunds/", {}, format="json")
        with_throttle.check(api.post("/api/v1/refunds/", {}, format="json"), "post", "/api/v1/refunds/", 429)
    finally:
        ScopedRateThrottle.THROTTLE_RATES = original
    contract.seen |= with_throttle.seen

    assert Refund.objects.get(refund_no=replacement["refund_no"]).state == RefundState.REPLACING
    assert sorted(contract.documented() - contract.seen) == []


def test_amounts_are_decimal_strings_and_times_have_a_zone(schema: dict[str, Any]) -> None:
    def walk(node: Any, where: str) -> Iterator[tuple[str, dict[str, Any]]]:
        if isinstance(node, dict):
            if "type" in node:
                yield where, node
            for key, value in node.items():
                yield from walk(value, f"{where}.{key}")
        elif isinstance(node, list):
            for index, value in enumerate(node):
                yield from walk(value, f"{where}[{index}]")

    numbers = [where for where, node in walk(schema["components"], "") if node["type"] == "number"]
    assert numbers == []
    amounts = {
        where: node
        for where, node in walk(schema["components"], "")
        if where.endswith(("amount", "amount_paid", "unit_price", "shipping_fee", "total_amount"))
    }
    assert amounts and all(node["type"] == "string" and node["format"] == "decimal" for node in amounts.values())


# Words of the code, not of the API: a description that has them is a docstring meant for programmers.
INTERNAL = re.compile(
    r"ModelSerializer|serializer|queryset|prefetch|select_related|instance|\bself\b|caller|lock|the model\b",
    re.IGNORECASE,
)


def test_descriptions_are_written_for_the_api_s_users(schema: dict[str, Any]) -> None:
    descriptions = [schema["info"]["description"]]
    for operations in schema["paths"].values():
        for operation in operations.values():
            assert operation.get("summary"), operation["operationId"]
            descriptions += [operation["summary"], operation.get("description", "")]
            descriptions += [response.get("description", "") for response in operation["responses"].values()]
    for component in schema["components"]["schemas"].values():
        descriptions.append(component.get("description", ""))
        descriptions += [field.get("description", "") for field in component.get("properties", {}).values()]
    leaks = [text for text in descriptions if INTERNAL.search(text)]
    assert leaks == []


def test_an_evidence_photo_is_shown_in_shop_time(customer: Any, media_root: Any) -> None:
    api = client_for(customer)
    order = make_order(customer, lines=[(ProductFactory(price=Decimal("30.00")), "2")], status="delivered")
    body = {"order_no": order.order_no, "reason": "quality_issue", "kind": "refund_only"}
    body["items"] = [{"order_item_id": order.items.get().pk, "quantity": "1"}]
    refund_no = api.post("/api/v1/refunds/", body, format="json").json()["refund_no"]
    shown = api.post(f"/api/v1/refunds/{refund_no}/evidence/", {"file": _png()}, format="multipart")
    photo = Refund.objects.get(refund_no=refund_no).evidence.get()
    assert shown.json()["evidence"] == [
        {
            "id": photo.pk,
            "content_type": "image/png",
            "size": photo.size,
            "uploaded_at": timezone.localtime(photo.created_at).isoformat(),
        }
    ]
    assert shown.json()["evidence"][0]["uploaded_at"].endswith("+08:00")
