"""The automatic approval sweep over a backlog of refunds nobody reviewed: wall time and peak memory.

Two steps, driven by scripts/bench_sweeps.sh, each in its own process so that the run's peak memory is the
sweep's and not the seeding's:

``seed``  bulk-inserts customers, delivered orders (payment, shipment, one line each) and ``--refunds`` quality
          claims with a photo each, waiting for review past their due time into the database named by
          ``DATABASE_URL``. Each customer has ten paid orders and four claims (a refund rate of 40%, inside the
          abuse rule), and one claim in twenty is above the automatic approval cap, so the sweep both approves and
          escalates.
``run``   runs ``refunds.sweeps.auto_approval_sweep`` once with the gray release at 100% (every page reads the
          customers' refund histories), checks that no overdue refund is left, and prints the figures with the
          machine they were taken on.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import time
from pathlib import Path

from execution.common import cpu_model
from figures import record

ROOT = Path(__file__).resolve().parents[1]
ORDERS_PER_CUSTOMER = 10
CLAIMS_PER_CUSTOMER = 4
ABOVE_CAP_EVERY = 20


def _django() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mall.settings")
    import django

    django.setup()


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def _machine() -> str:
    cpu = cpu_model()
    try:
        load = " ".join(f"{value:.2f}" for value in os.getloadavg())
    except OSError:
        load = "?"
    return f"nproc {len(os.sched_getaffinity(0))}, {cpu}; load average {load}; Python {platform.python_version()}"


def seed(refunds: int) -> None:
    _django()
    from datetime import timedelta
    from decimal import Decimal

    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password
    from django.db import transaction
    from django.utils import timezone

    from mall.models import Order, OrderItem, Payment, Product, SaleUnit, Shipment, Stock
    from refunds.models import Refund, RefundEvent, RefundEvidence, RefundItem
    from refunds.texts import SUBMITTED

    started = time.monotonic()
    customers = -(-refunds // CLAIMS_PER_CUSTOMER)
    user_model = get_user_model()
    password = make_password("bench-pass-w0rd")  # hashed once: nobody logs in
    now = timezone.now()
    paid_at, delivered_at = now - timedelta(days=3), now - timedelta(days=1)
    created = now - timedelta(hours=3)  # due an hour ago
    price, above_cap_price = Decimal("48.00"), Decimal("780.00")
    run_id = f"{int(time.time()) % 10**8:08d}"
    batch, chunk = 2000, 1000  # customers per transaction
    with transaction.atomic():
        product, _ = Product.objects.get_or_create(
            sku="BENCH-DURIAN", defaults={"name": "Bench durian", "unit": SaleUnit.PIECE, "price": price}
        )
        Stock.objects.get_or_create(product=product, defaults={"quantity": Decimal("1000000")})
    made = 0
    for first in range(0, customers, chunk):
        count = min(chunk, customers - first)
        with transaction.atomic():
            users = user_model.objects.bulk_create(
                [user_model(username=f"ab{run_id}{n:07d}", password=password) for n in range(first, first + count)],
                batch_size=batch,
            )
            orders = Order.objects.bulk_create(
                [
                    Order(
                        order_no=f"OA{run_id}{(first + u) * ORDERS_PER_CUSTOMER + k:09d}",
                        customer=user,
                        status="delivered",
                        goods_amount=price,
                        total_amount=price,
                    )
                    for u, user in enumerate(users)
                    for k in range(ORDERS_PER_CUSTOMER)
                ],
                batch_size=batch,
            )
            Payment.objects.bulk_create(
                [
                    Payment(
                        order=order,
                        channel="alipay" if order.pk % 2 else "wechat",
                        out_trade_no=order.order_no,
                        trade_no=f"AT{order.order_no}",
                        amount=order.total_amount,
                        paid_at=paid_at,
                    )
                    for order in orders
                ],
                batch_size=batch,
            )
            Shipment.objects.bulk_create(
                [
                    Shipment(
                        order=order,
                        carrier="SF",
                        tracking_no=f"SF{order.order_no}",
                        shipped_at=paid_at,
                        delivered_at=delivered_at,
                    )
                    for order in orders
                ],
                batch_size=batch,
            )
            claimed = [order for n, order in enumerate(orders) if n % ORDERS_PER_CUSTOMER < CLAIMS_PER_CUSTOMER]
            claimed = claimed[: refunds - made]
            amounts = {
                order.pk: above_cap_price if (made + n) % ABOVE_CAP_EVERY == 0 else price
                for n, order in enumerate(claimed)
            }
            items = OrderItem.objects.bulk_create(
                [
                    OrderItem(
                        order=order,
                        product=product,
                        sku=product.sku,
                        name=product.name,
                        unit=product.unit,
                        quantity=Decimal("1"),
                        unit_price=amounts.get(order.pk, price),
                        amount=amounts.get(order.pk, price),
                        refund_claimed_quantity=Decimal("1") if order.pk in amounts else Decimal("0"),
                        refund_claimed_amount=amounts.get(order.pk, Decimal("0.00")),
                    )
                    for order in orders
                ],
                batch_size=batch,
            )
            item_of = {item.order_id: item for item in items}
            for order in claimed:  # the above-cap orders were paid accordingly
                if amounts[order.pk] != price:
                    Order.objects.filter(pk=order.pk).update(
                        goods_amount=amounts[order.pk], total_amount=amounts[order.pk]
                    )
                    Payment.objects.filter(order=order).update(amount=amounts[order.pk])
            claims = Refund.objects.bulk_create(
                [
                    Refund(
                        refund_no=f"RA{run_id}{made + n:09d}",
                        order=order,
                        customer_id=order.customer_id,
                        reason="quality_issue",
                        kind="refund_only",
                        source="customer",
                        amount=amounts[order.pk],
                        channel="alipay" if order.pk % 2 else "wechat",
                        out_refund_no=f"RQA{run_id}{made + n:09d}",
                        due_at=created + timedelta(hours=2),
                        state_changed_at=created,
                    )
                    for n, order in enumerate(claimed)
                ],
                batch_size=batch,
            )
            RefundItem.objects.bulk_create(
                [
                    RefundItem(
                        refund=claim,
                        order_item=item_of[claim.order_id],
                        quantity=Decimal("1"),
                        amount=claim.amount,
                    )
                    for claim in claims
                ],
                batch_size=batch,
            )
            RefundEvent.objects.bulk_create(
                [
                    RefundEvent(refund=claim, from_state="", to_state="pending_review", note_code=SUBMITTED.code)
                    for claim in claims
                ],
                batch_size=batch,
            )
            # Quality claims carry a photo: without one the sweep would escalate them all.
            RefundEvidence.objects.bulk_create(
                [
                    RefundEvidence(
                        refund=claim,
                        file=f"refunds/evidence/{claim.refund_no}/photo.jpg",
                        content_type="image/jpeg",
                        size=1,
                        sha256="0" * 64,
                    )
                    for claim in claims
                ],
                batch_size=batch,
            )
            made += len(claims)
    # created_at is set on insert; backdate it to match the due time (the abuse window counts from it).
    Refund.objects.filter(refund_no__startswith=f"RA{run_id}").update(created_at=created)
    print(
        f"seeded {customers} customers, {customers * ORDERS_PER_CUSTOMER} delivered orders and {made} refunds "
        f"waiting past their due time in {time.monotonic() - started:.1f} s"
    )


def run() -> int:
    _django()
    from django.conf import settings
    from django.db import connection

    from refunds.models import Refund, RefundState
    from refunds.sweeps import auto_approval_sweep

    settings.REFUND_POLICY_ROLLOUT_PERCENT = 100  # the abuse rule (and its per-page queries) for every customer
    waiting = Refund.objects.filter(state=RefundState.PENDING_REVIEW, escalated_at__isnull=True).count()
    baseline = _rss_mb()
    started = time.perf_counter()
    cpu_started = time.process_time()
    outcome = auto_approval_sweep()
    wall = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    peak = _rss_mb()
    left = Refund.objects.filter(state=RefundState.PENDING_REVIEW, escalated_at__isnull=True).count()
    counts = dict(sorted(outcome.counts.items()))
    handled = sum(counts.values())
    version = ""
    if connection.vendor == "mysql":
        kind = "MariaDB" if connection.mysql_is_mariadb else "MySQL"
        version = f"({kind} {'.'.join(map(str, connection.mysql_version))})"
    print(f"machine: {_machine()}")
    print(f"database: {connection.vendor} {version}")
    queued = "jobs handed to Redis" if settings.REDIS_URL else "jobs in process"
    print(f"refunds waiting past due: {waiting}; batch size {settings.SWEEP_BATCH_SIZE}; {queued}")
    print(f"outcome: {counts}; left waiting: {left}")
    print(f"wall time: {wall:.1f} s ({handled / wall:.0f} refunds/s); CPU time of this process: {cpu:.1f} s")
    print(f"peak memory (ru_maxrss): {peak:.1f} MB; before the sweep: {baseline:.1f} MB")
    full = waiting >= 100_000
    if full:
        ok = wall < 60 and peak < 200 and left == 0
        print(f"target under 60 s and under 200 MB: {'met' if ok else 'NOT met'}")
    else:
        print(f"target under 60 s and under 200 MB applies to 100,000 refunds; this run had {waiting}")
    record("sweep", "overdue refunds swept", handled, "refunds", note=str(counts))
    record("sweep", "left waiting after the sweep", left, "refunds", target="0", met=left == 0)
    record("sweep", "wall time", wall, "s", target="< 60 s" if full else None, met=wall < 60 if full else None)
    record("sweep", "peak memory", peak, "MB", target="< 200 MB" if full else None, met=peak < 200 if full else None)
    record("sweep", "CPU time of the sweep", cpu, "s")
    return 0 if left == 0 else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    steps = parser.add_subparsers(dest="step", required=True)
    seed_step = steps.add_parser("seed")
    seed_step.add_argument("--refunds", type=int, default=100_000)
    steps.add_parser("run")
    args = parser.parse_args()
    if args.step == "seed":
        seed(args.refunds)
        return 0
    return run()


if __name__ == "__main__":
    sys.exit(main())
