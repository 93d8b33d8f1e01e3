"""The rehearsal's shop and its customers: seeding, the applications through both web hosts, and an agent.

Used by ``benchmarks/rehearsal.py`` after ``django.setup()``. The orders are paid in bulk (``seeding``); most are
not shipped yet (a customer's request is approved at once and paid out), a share is delivered (a quality claim
waits for an agent, who approves it through the service layer, as the console's button does).

What the customers send, per order (shares of the unshipped orders; the rest apply once for the whole order):

- ``contested``: the whole order, twice at the same instant, once through each host: exactly one may be accepted;
- ``split``: one line through host A and the other through host B at the same instant: both are accepted;
- ``store_credit``: the whole order, paid to the customer's balance in the shop (no channel call).
"""

from __future__ import annotations

import itertools
import secrets
import threading
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import seeding

CUSTOMER_PASSWORD = "rehearsal-pass-w0rd"  # hashed once for bulk users that never log in
ORDERS_PER_CUSTOMER = 3  # with a contested pair, at most 4 applications each: far below the 30/min throttle


@dataclass(frozen=True)
class Application:
    """One POST /api/v1/refunds/ a customer sends."""

    order_no: str
    token: str
    body: dict[str, Any]
    host: int | None = None  # None: the next host in the round robin


@dataclass(frozen=True)
class Task:
    """Applications sent together (at the same instant when there are two)."""

    kind: str  # full, store_credit, contested, split, quality
    applications: tuple[Application, ...]


@dataclass
class Answer:
    task: str
    order_no: str
    host: int
    status: int
    refund_no: str = ""
    code: str = ""
    seconds: float = 0.0


@dataclass
class Seeded:
    tasks: list[Task]
    order_ids: list[int]
    delivered_order_ids: list[int]
    stock_before: dict[int, Any]
    agent_id: int
    orders_by_no: dict[str, int] = field(default_factory=dict)


def seed(*, orders: int, delivered_share: float, shares: dict[str, float], run_id: str) -> Seeded:
    """Customers with API tokens, ``orders`` paid orders (a share delivered), their stock allocation, an agent."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password
    from django.contrib.auth.models import Group
    from django.db import transaction
    from django.utils import timezone
    from rest_framework.authtoken.models import Token

    from mall.models import Order, OrderEvent, OrderItem, Shipment, Stock, StockMovement
    from mall.roles import CUSTOMER_SERVICE
    from mall.services import ALLOCATION_REASON, allocation_reference

    user_model = get_user_model()
    password = make_password(CUSTOMER_PASSWORD)
    delivered = int(orders * delivered_share)
    unshipped = orders - delivered
    customers = max(2, -(-orders // ORDERS_PER_CUSTOMER))
    prefix = f"rh{run_id}"
    with transaction.atomic():
        user_model.objects.bulk_create(
            [
                user_model(username=f"{prefix}c{n:05d}", email=f"{prefix}c{n:05d}@rehearsal.example", password=password)
                for n in range(customers)
            ],
            batch_size=seeding.BATCH,
        )
        users = list(user_model.objects.filter(username__startswith=f"{prefix}c").order_by("username"))
        Token.objects.bulk_create([Token(user=user, key=secrets.token_hex(20)) for user in users])
        tokens = dict(Token.objects.filter(user__in=users).values_list("user_id", "key"))
        open_orders = seeding.paid_orders(
            customers=users, count=unshipped, order_prefix=f"RA{run_id}", trade_prefix="RT"
        )
        # Delivered orders go to other customers' turns of the same list: every customer stays within the throttle.
        done_orders = seeding.paid_orders(
            customers=users[::-1], count=delivered, order_prefix=f"RD{run_id}", trade_prefix="RT"
        )
        now = timezone.now()
        Order.objects.filter(pk__in=[o.pk for o in done_orders]).update(status="delivered")
        Shipment.objects.bulk_create(
            [
                Shipment(
                    order=order,
                    carrier="sf",
                    tracking_no=f"SF{order.order_no}",
                    shipped_at=now - timedelta(days=2),
                    delivered_at=now - timedelta(days=1),
                )
                for order in done_orders
            ]
        )
        OrderEvent.objects.bulk_create(
            [OrderEvent(order=o, from_status="paid", to_status="shipped") for o in done_orders]
            + [OrderEvent(order=o, from_status="shipped", to_status="delivered") for o in done_orders]
        )
        all_orders = open_orders + done_orders
        lines: dict[int, list[tuple[int, str]]] = {}
        movements = []
        for pk, order_id, product_id, quantity in (
            OrderItem.objects.filter(order__in=all_orders)
            .order_by("order_id", "pk")
            .values_list("pk", "order_id", "product_id", "quantity")
        ):
            lines.setdefault(order_id, []).append((pk, str(quantity)))
            movements.append(
                StockMovement(
                    product_id=product_id, delta=-quantity, reason=ALLOCATION_REASON, reference=allocation_reference(pk)
                )
            )
        StockMovement.objects.bulk_create(movements, batch_size=seeding.BATCH)
        agent = user_model.objects.create_user(
            username=f"{prefix}agent", password=CUSTOMER_PASSWORD, is_staff=True, email=""
        )
        agent.groups.add(Group.objects.get(name=CUSTOMER_SERVICE))
    stock_before = dict(Stock.objects.values_list("product_id", "quantity"))

    def full(order: Any) -> list[dict[str, str | int]]:
        return [{"order_item_id": pk, "quantity": qty} for pk, qty in lines[order.pk]]

    tasks: list[Task] = []
    bounds = _share_bounds(unshipped, shares)
    for n, order in enumerate(open_orders):
        token = tokens[order.customer_id]
        base = {"order_no": order.order_no, "reason": "not_shipped", "kind": "refund_only"}
        kind = next((name for name, (low, high) in bounds.items() if low <= n < high), "full")
        if kind == "contested":
            apps = tuple(Application(order.order_no, token, {**base, "items": full(order)}, host=h) for h in (0, 1))
        elif kind == "split":
            apps = tuple(
                Application(order.order_no, token, {**base, "items": [item]}, host=h)
                for h, item in enumerate(full(order))
            )
        elif kind == "store_credit":
            apps = (Application(order.order_no, token, {**base, "items": full(order), "destination": "store_credit"}),)
        else:
            apps = (Application(order.order_no, token, {**base, "items": full(order)}),)
        tasks.append(Task(kind, apps))
    for order in done_orders:
        body = {
            "order_no": order.order_no,
            "reason": "quality_issue",
            "kind": "refund_only",
            "description": "烂了两个",
            "items": full(order),
        }
        tasks.append(Task("quality", (Application(order.order_no, tokens[order.customer_id], body),)))
    # Interleave the kinds, the same way on every run: the hosts see every kind of work throughout.
    tasks.sort(key=lambda task: uuid.uuid5(uuid.NAMESPACE_OID, task.applications[0].order_no).hex)
    return Seeded(
        tasks=tasks,
        order_ids=[o.pk for o in all_orders],
        delivered_order_ids=[o.pk for o in done_orders],
        stock_before=stock_before,
        agent_id=agent.pk,
        orders_by_no={o.order_no: o.pk for o in all_orders},
    )


def _share_bounds(count: int, shares: dict[str, float]) -> dict[str, tuple[int, int]]:
    bounds, start = {}, 0
    for name, share in shares.items():
        end = min(count, start + round(count * share))
        bounds[name] = (start, end)
        start = end
    return bounds


def register_trades(order_ids: Sequence[int], simulator_url: str, notify_bases: Sequence[str]) -> None:
    """Tell the simulator of every payment; each trade's notifications go to one host or the other."""
    from mall.models import Payment
    from payments.simulator.client import register_trade

    payments = list(Payment.objects.filter(order_id__in=order_ids).order_by("order_id"))

    def one(indexed: tuple[int, Any]) -> None:
        n, payment = indexed
        register_trade(
            channel=payment.channel,
            out_trade_no=payment.out_trade_no,
            trade_no=payment.trade_no,
            amount=payment.amount,
            notify_url=f"{notify_bases[n % len(notify_bases)]}/payments/notify/{payment.channel}/",
            paid_at=payment.paid_at,
            base_url=simulator_url,
        )

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(one, enumerate(payments)))


def apply_all(tasks: Sequence[Task], web_urls: Sequence[str], clients: int, deadline: float) -> list[Answer]:
    """Every task's applications, ``clients`` at a time, single ones to the hosts in turn. Bounded by
    ``deadline`` (monotonic): tasks not started by then are not sent."""
    import requests

    turn = itertools.count()
    turn_lock = threading.Lock()
    local = threading.local()
    answers: list[Answer] = []
    answers_lock = threading.Lock()

    def session() -> requests.Session:
        if not hasattr(local, "session"):
            local.session = requests.Session()
        mine: requests.Session = local.session
        return mine

    def send(task: str, app: Application, host: int, barrier: threading.Barrier | None) -> None:
        if barrier is not None:
            barrier.wait(timeout=30)
        started = time.monotonic()
        try:
            reply = session().post(
                f"{web_urls[host]}/api/v1/refunds/",
                json=app.body,
                headers={
                    "Authorization": f"Token {app.token}",
                    "Idempotency-Key": uuid.uuid4().hex,
                    "Accept-Language": "zh-hans",
                },
                timeout=30,
            )
            status = reply.status_code
            data = reply.json() if reply.headers.get("Content-Type", "").startswith("application/json") else {}
        except requests.RequestException as error:
            status, data = 0, {"code": type(error).__name__}
        answer = Answer(
            task,
            app.order_no,
            host,
            status,
            refund_no=str(data.get("refund_no", "")) if status == 201 else "",
            code=str(data.get("code", "")) if status != 201 else "",
            seconds=time.monotonic() - started,
        )
        with answers_lock:
            answers.append(answer)

    def run(task: Task) -> None:
        if time.monotonic() > deadline:
            return
        if len(task.applications) == 1:
            app = task.applications[0]
            with turn_lock:
                host = app.host if app.host is not None else next(turn) % len(web_urls)
            send(task.kind, app, host, None)
            return
        barrier = threading.Barrier(len(task.applications))
        others = [
            threading.Thread(target=send, args=(task.kind, app, app.host or 0, barrier), daemon=True)
            for app in task.applications[1:]
        ]
        for thread in others:
            thread.start()
        first = task.applications[0]
        send(task.kind, first, first.host or 0, barrier)
        for thread in others:
            thread.join(timeout=60)

    with ThreadPoolExecutor(max_workers=clients) as pool:
        list(pool.map(run, tasks))
    return answers


def agent_works_queue(
    *, agent_id: int, order_ids: Sequence[int], stop: threading.Event, errors: list[str], deadline: float
) -> int:
    """An agent approving the quality claims waiting on ``order_ids`` as they come in, through the service layer,
    until ``stop`` is set and none is left waiting (or ``deadline``, monotonic). Returns how many it approved."""
    from django.contrib.auth import get_user_model
    from django.db import connection

    from refunds.models import Refund, RefundState
    from refunds.services import refund_approve

    agent = get_user_model().objects.get(pk=agent_id)
    approved = 0
    refused: set[int] = set()  # tried once and refused: reported, not tried again
    try:
        while time.monotonic() < deadline:
            waiting = list(
                Refund.objects.filter(order_id__in=order_ids, state=RefundState.PENDING_REVIEW)
                .exclude(pk__in=refused)
                .order_by("pk")[:50]
            )
            for refund in waiting:
                try:
                    refund_approve(refund=refund, actor=agent, note="照片与描述一致")
                    approved += 1
                except Exception as error:  # noqa: BLE001 - counted and printed, never hidden
                    refused.add(refund.pk)
                    errors.append(f"{refund.refund_no}: {type(error).__name__}: {error}")
            if not waiting:
                if stop.is_set():
                    break
                time.sleep(0.3)
    finally:
        connection.close()
    return approved
