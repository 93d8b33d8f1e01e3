"""The customer-service console at scale: queries per page and render time of the refund queue (plain, filtered,
searched), the refund page and the dashboard, over a MariaDB table of a million refunds.

Two steps, each against the database named by ``DATABASE_URL`` (a scratch one: ``seed`` fills it):

``seed``  migrates, then bulk-inserts customers, delivered orders and ``--refunds`` refunds spread over a year
          in a realistic mix of states (2% waiting for review, most of them overdue; 1% failed; the rest moving
          or closed), with SQL ``INSERT ... SELECT`` over MariaDB's sequence engine. One more refund is created
          through the services, with its items and timeline, for the refund page.
``run``   renders each page ``--repeat`` times in process (Django's test client, logged in as an agent: the whole
          request, middleware, queries and templates, without the network) and prints the query count and the
          p50 / p95 time of each.

    DATABASE_URL=mysql://root@127.0.0.1:3306/mall_bench_console .venv/bin/python benchmarks/console_queue.py seed
    DATABASE_URL=mysql://root@127.0.0.1:3306/mall_bench_console .venv/bin/python benchmarks/console_queue.py run
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from figures import record

ROOT = Path(__file__).resolve().parents[1]
CUSTOMERS = 20_000


def _django() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mall.settings")
    import django

    django.setup()


def seed(refunds: int) -> None:
    from django.core.management import call_command
    from django.db import connection

    if connection.vendor != "mysql":
        raise SystemExit("the console benchmark needs MariaDB/MySQL (DATABASE_URL)")
    call_command("migrate", verbosity=0)
    started = time.monotonic()
    with connection.cursor() as cur:
        cur.execute("SET SESSION foreign_key_checks = 0, unique_checks = 0")
        cur.execute(
            "INSERT INTO auth_user (password, username, first_name, last_name, email, is_superuser, is_staff,"
            " is_active, date_joined) SELECT '!', CONCAT('bench_', seq), '', '', '', 0, 0, 1, NOW(6)"
            f" FROM seq_1_to_{CUSTOMERS}"
        )
        cur.execute("SELECT MIN(id) FROM auth_user WHERE username LIKE 'bench\\_%%'")
        first_user = cur.fetchone()[0]
        cur.execute(
            "INSERT INTO mall_order (order_no, customer_id, status, goods_amount, shipping_fee, total_amount,"
            " shipping_fee_refund_claimed, receiver_name, receiver_phone, receiver_address, created_at, updated_at)"
            f" SELECT CONCAT('OB', LPAD(seq, 14, '0')), {first_user} + seq MOD {CUSTOMERS}, 'delivered',"
            " 100.00, 0.00, 100.00, 0.00, '', CONCAT('139', LPAD(seq MOD 50000, 8, '0')), '',"
            " UTC_TIMESTAMP(6) - INTERVAL seq * 30 SECOND, UTC_TIMESTAMP(6)"
            f" FROM seq_1_to_{refunds}"
        )
        cur.execute("SELECT MIN(id) FROM mall_order WHERE order_no LIKE 'OB%%'")
        first_order = cur.fetchone()[0]
        state = (
            "CASE WHEN seq MOD 100 < 2 THEN 'pending_review' WHEN seq MOD 100 = 2 THEN 'failed'"
            " WHEN seq MOD 100 = 3 THEN 'inspecting' WHEN seq MOD 100 = 4 THEN 'awaiting_return'"
            " WHEN seq MOD 100 < 8 THEN 'refunding' WHEN seq MOD 100 < 10 THEN 'rejected'"
            " WHEN seq MOD 100 = 10 THEN 'cancelled' ELSE 'refunded' END"
        )
        created = "UTC_TIMESTAMP(6) - INTERVAL seq * 30 SECOND"
        cur.execute(
            "INSERT INTO refunds_refund (refund_no, order_id, customer_id, state, reason, kind, source, description,"
            " amount, shipping_fee_amount, channel, out_refund_no, channel_refund_id, requires_supervisor,"
            " decision_note, due_at, escalated_at, escalation_reason, idempotency_key, request_fingerprint, created_at,"
            " updated_at, state_changed_at, refunded_at)"
            f" SELECT CONCAT('RB', LPAD(seq, 14, '0')), {first_order} + seq - 1, {first_user} + seq MOD {CUSTOMERS},"
            f" {state}, IF(seq MOD 10 = 0, 'compensation', 'quality_issue'), 'refund_only',"
            " IF(seq MOD 10 = 0, 'staff', 'customer'), '', 20.00 + seq MOD 80, 0.00,"
            " IF(seq MOD 3 = 0, 'wechat', 'alipay'), CONCAT('RQB', LPAD(seq, 14, '0')), '', seq MOD 1000 = 1, '',"
            f" {created} + INTERVAL 2 HOUR, IF(seq MOD 1000 = 0, {created} + INTERVAL 2 HOUR, NULL),"
            f" IF(seq MOD 1000 = 0, 'auto-approve-v1: above the automatic approval cap', ''),"
            f" NULL, '', {created}, {created}, {created},"
            f" IF(seq MOD 100 > 10, {created} + INTERVAL 1 HOUR, NULL)"
            f" FROM seq_1_to_{refunds}"
        )
        cur.execute("ANALYZE TABLE refunds_refund, mall_order, auth_user")
        cur.fetchall()
    print(f"seeded {refunds} refunds in {time.monotonic() - started:.0f} s")
    _real_refund()


def _real_refund() -> None:
    """One refund made by the services, with items, events and an order a person would open."""
    from decimal import Decimal

    from django.contrib.auth import get_user_model

    from mall import services as shop
    from mall.models import Product, Stock
    from refunds import services

    product, _ = Product.objects.get_or_create(
        sku="BENCH-APL", defaults={"name": "烟台红富士苹果", "price": Decimal("39.90")}
    )
    Stock.objects.get_or_create(product=product, defaults={"quantity": Decimal("1000")})
    customer, _ = get_user_model().objects.get_or_create(username="bench_page_customer")
    order = shop.order_create(customer=customer, lines=[shop.OrderLine("BENCH-APL", Decimal("2"))])
    order = shop.order_pay(order=order, channel="alipay", trade_no=f"BENCH{time.time_ns()}")
    order = shop.order_ship(order=order, carrier="SF", tracking_no=f"SF{time.time_ns() % 10**12}")
    order = shop.order_deliver(order=order)
    services.refund_apply(
        customer=customer,
        order_no=order.order_no,
        reason="quality_issue",
        kind="refund_only",
        items=services.full_order_items(order),
        description="bruised",
    )


P50_TARGET_MS = 300.0


class _Statements:
    """Counts and times every statement a request sends, whatever DEBUG says (a ``connection.execute_wrapper``)."""

    def __init__(self) -> None:
        self.statements: list[tuple[float, str]] = []

    def __len__(self) -> int:
        return len(self.statements)

    def __call__(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.statements.append((time.perf_counter() - started, sql))


def run(repeat: int, save_counts: Path | None = None, counts_of: Path | None = None) -> int:
    """Measure each page; ``save_counts`` keeps the query counts, ``counts_of`` compares with kept ones (taken on a
    smaller table). Returns 1 when a target is missed."""
    from django.contrib.auth.models import Group
    from django.db import connection
    from django.test import Client

    from mall.roles import CS_SUPERVISOR, CUSTOMER_SERVICE, FINANCE, roles_bootstrap
    from refunds.models import Refund

    roles_bootstrap()
    from django.contrib.auth import get_user_model

    agent, _ = get_user_model().objects.get_or_create(username="bench_agent", defaults={"is_staff": True})
    agent.groups.add(Group.objects.get(name=CUSTOMER_SERVICE))
    client = Client(headers={"accept-language": "en"})
    client.force_login(agent)
    clients = {"agent": client}
    for name, role in (("supervisor", CS_SUPERVISOR), ("finance", FINANCE)):
        user, _ = get_user_model().objects.get_or_create(username=f"bench_{name}", defaults={"is_staff": True})
        user.groups.add(Group.objects.get(name=role))
        clients[name] = Client(headers={"accept-language": "en"})
        clients[name].force_login(user)
    real = Refund.objects.filter(customer__username="bench_page_customer").select_related("order").latest("id")
    some = Refund.objects.filter(refund_no__startswith="RB").order_by("-id").select_related("order").first()
    assert some is not None
    total = Refund.objects.count()
    views: list[tuple[str, str, dict[str, str]] | tuple[str, str, dict[str, str], str]] = [
        ("queue", "/admin/refunds/refund/", {}),
        ("queue page 3", "/admin/refunds/refund/", {"p": "3"}),
        ("filter state=pending_review", "/admin/refunds/refund/", {"state__exact": "pending_review"}),
        ("filter overdue", "/admin/refunds/refund/", {"overdue": "yes"}),
        (
            "filter state=failed + channel=wechat",
            "/admin/refunds/refund/",
            {"state__exact": "failed", "channel__exact": "wechat"},
        ),
        ("filter reason=compensation", "/admin/refunds/refund/", {"reason__exact": "compensation"}),
        ("search refund no", "/admin/refunds/refund/", {"q": some.refund_no}),
        ("search order no", "/admin/refunds/refund/", {"q": some.order.order_no}),
        ("search username prefix", "/admin/refunds/refund/", {"q": "bench_1234"}),
        ("search customer phone", "/admin/refunds/refund/", {"q": "13900001234"}),
        ("filter needs a supervisor", "/admin/refunds/refund/", {"supervisor": "waiting"}),
        ("filter escalated + overdue", "/admin/refunds/refund/", {"supervisor": "escalated", "overdue": "yes"}),
        ("refund page", f"/admin/refunds/refund/{real.pk}/change/", {}),
        ("dashboard (admin index)", "/admin/", {}),
        ("supervisor's queue preset", "/admin/refunds/refund/", {"supervisor": "waiting"}, "supervisor"),
        ("dashboard (supervisor)", "/admin/", {}, "supervisor"),
        ("finance dashboard", "/admin/reconciliation/reconciliationrun/dashboard/", {}, "finance"),
        ("dashboard (finance)", "/admin/", {}, "finance"),
    ]
    smaller = json.loads(counts_of.read_text()) if counts_of else {}
    smaller_size = smaller.get("_refunds")
    counts: dict[str, int] = {}
    missed = 0
    load = " ".join(f"{value:.2f}" for value in os.getloadavg())
    print(
        f"{total} refunds; MariaDB {connection.mysql_server_info}; {platform.node()} {os.cpu_count()} cores; "
        f"load {load}"
    )
    head = f"{'page':40} {'queries':>7} {'db ms':>7} {'p50 ms':>8} {'p95 ms':>8}"
    print(head + (f" {'queries at ' + str(smaller.pop('_refunds')):>20}" if smaller else ""))
    for name, url, params, *who in views:
        client = clients[who[0] if who else "agent"]
        client.get(url, params)  # warm the connection and the template cache
        captured = _Statements()
        with connection.execute_wrapper(captured):
            response = client.get(url, params)
        assert response.status_code == 200, (name, response.status_code)
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            client.get(url, params)
            times.append((time.perf_counter() - started) * 1000)
        times.sort()
        p95 = times[math.ceil(len(times) * 0.95) - 1]  # nearest rank
        db_ms = sum(seconds for seconds, _ in captured.statements) * 1000
        p50 = statistics.median(times)
        counts[name] = len(captured)
        line = f"{name:40} {len(captured):>7} {db_ms:>7.1f} {p50:>8.1f} {p95:>8.1f}"
        if smaller:
            same = smaller.get(name) == len(captured)
            line += f" {smaller.get(name, '?'):>20}" + ("" if same else "  GROWS")
            missed += not same
            record(
                "console",
                f"{name}: queries",
                len(captured),
                target=f"= {smaller.get(name)} (at {smaller_size})",
                met=same,
            )
        missed += p50 >= P50_TARGET_MS
        print(line)
        if counts_of:  # the figures worth keeping are those of the big table
            record("console", f"{name}: p50", p50, "ms", target=f"< {P50_TARGET_MS:.0f} ms", met=p50 < P50_TARGET_MS)
            record("console", f"{name}: p95", p95, "ms")
        if os.environ.get("BENCH_SHOW_SQL"):
            for seconds, sql in captured.statements:
                print(f"    {seconds * 1000:7.1f} ms  {sql[:160]}")
    if save_counts:
        save_counts.write_text(json.dumps({"_refunds": total, **counts}))
    if counts_of:
        record("console", "refunds in the table", total, "refunds")
        verdict = "met" if not missed else f"NOT met ({missed} misses)"
        print(f"targets (p50 < {P50_TARGET_MS:.0f} ms on every page; query counts as at {smaller_size}): {verdict}")
    return 1 if missed else 0


def main(argv: Any = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="step", required=True)
    sub.add_parser("seed").add_argument("--refunds", type=int, default=1_000_000)
    running = sub.add_parser("run")
    running.add_argument("--repeat", type=int, default=30)
    running.add_argument("--save-counts", type=Path, help="keep each page's query count in this file")
    running.add_argument("--counts-of", type=Path, help="compare with the query counts kept from a smaller table")
    args = parser.parse_args(argv)
    _django()
    if args.step == "seed":
        seed(args.refunds)
        return 0
    return run(args.repeat, args.save_counts, args.counts_of)


if __name__ == "__main__":
    sys.exit(main())
