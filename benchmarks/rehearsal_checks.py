"""What the rehearsal proves once the load has settled: the money rules, and that both hosts took work.

``gather`` reads the facts (the scratch database after ``django.setup()``, the channel simulator's ledger, each
web host's ``/metrics``) into plain rows; the ``check_*`` functions are pure and each returns one :class:`Check`.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

ZERO = Decimal("0.00")
RELEASED = ("rejected", "cancelled", "failed")  # states that hold none of the order's money


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


@dataclass
class Facts:
    """Plain rows: refunds ``{refund_no, order_id, state, destination, amount, out_refund_no, channel}``, orders
    ``{id, order_no, status, total, paid, channel, out_trade_no, shipped}``, refund lines ``(refund_no,
    order_item_id, amount, quantity)``, order lines ``{id: (order_id, amount, quantity)}``, store-credit accounts
    ``{account_id: balance}`` and entries ``(account_id, kind, amount, balance_after, refund_no)`` in id order,
    restock movements ``(reference, product_id, delta)``, stock ``{product_id: quantity}`` before and after,
    the simulator's ledger refunds ``{channel, out_trade_no, out_refund_no, amount, status}`` and trades."""

    refunds: list[dict[str, Any]]
    orders: dict[int, dict[str, Any]]
    refund_lines: list[tuple[str, int, Decimal, Decimal]]
    order_lines: dict[int, tuple[int, Decimal, Decimal]]
    accounts: dict[int, Decimal]
    entries: list[tuple[int, str, Decimal, Decimal, str]]
    restocks: list[tuple[str, int, Decimal]]
    line_products: dict[int, int]
    stock_before: dict[int, Decimal]
    stock_after: dict[int, Decimal]
    ledger_refunds: list[dict[str, Any]]
    ledger_trades: list[dict[str, Any]]
    extra: dict[str, Any] = field(default_factory=dict)


def gather(order_ids: Sequence[int], stock_before: dict[int, Any], ledger: dict[str, Any]) -> Facts:
    from mall.models import Order, OrderItem, Stock, StockMovement
    from payments.models import StoreCreditAccount, StoreCreditEntry
    from refunds.models import Refund, RefundItem
    from refunds.restock import RESTOCK_REASON

    refunds = [
        dict(row)
        for row in Refund.objects.filter(order_id__in=order_ids).values(
            "refund_no", "order_id", "state", "destination", "amount", "out_refund_no", "channel"
        )
    ]
    orders = {
        row["id"]: {
            "id": row["id"],
            "order_no": row["order_no"],
            "status": row["status"],
            "total": row["total_amount"],
            "paid": row["payment__amount"],
            "channel": row["payment__channel"],
            "out_trade_no": row["payment__out_trade_no"],
            "shipped": row["shipment__shipped_at"] is not None,
        }
        for row in Order.objects.filter(pk__in=order_ids).values(
            "id",
            "order_no",
            "status",
            "total_amount",
            "payment__amount",
            "payment__channel",
            "payment__out_trade_no",
            "shipment__shipped_at",
        )
    }
    refund_lines = list(
        RefundItem.objects.filter(refund__order_id__in=order_ids).values_list(
            "refund__refund_no", "order_item_id", "amount", "quantity"
        )
    )
    order_lines = {
        pk: (order_id, amount, quantity)
        for pk, order_id, amount, quantity in OrderItem.objects.filter(order_id__in=order_ids).values_list(
            "pk", "order_id", "amount", "quantity"
        )
    }
    line_products = dict(OrderItem.objects.filter(order_id__in=order_ids).values_list("pk", "product_id"))
    customer_ids = Order.objects.filter(pk__in=order_ids).values_list("customer_id", flat=True)
    accounts = dict(StoreCreditAccount.objects.filter(customer_id__in=customer_ids).values_list("pk", "balance"))
    entries = list(
        StoreCreditEntry.objects.filter(account_id__in=list(accounts))
        .order_by("pk")
        .values_list("account_id", "kind", "amount", "balance_after", "refund__refund_no")
    )
    restocks = list(StockMovement.objects.filter(reason=RESTOCK_REASON).values_list("reference", "product_id", "delta"))
    stock_after = dict(Stock.objects.values_list("product_id", "quantity"))
    trades = {(o["channel"], o["out_trade_no"]) for o in orders.values()}
    return Facts(
        refunds=refunds,
        orders=orders,
        refund_lines=refund_lines,
        order_lines=order_lines,
        accounts=accounts,
        entries=entries,
        restocks=restocks,
        line_products=line_products,
        stock_before={k: Decimal(v) for k, v in stock_before.items()},
        stock_after=stock_after,
        ledger_refunds=[r for r in ledger.get("refunds", []) if (r["channel"], r["out_trade_no"]) in trades],
        ledger_trades=[t for t in ledger.get("trades", []) if (t["channel"], t["out_trade_no"]) in trades],
    )


# --- the money rules -----------------------------------------------------------------------------------------


def check_all_refunded(facts: Facts, accepted: Iterable[str]) -> Check:
    accepted = set(accepted)
    states = Counter(r["state"] for r in facts.refunds)
    stray = [r["refund_no"] for r in facts.refunds if r["refund_no"] not in accepted]
    missing = accepted - {r["refund_no"] for r in facts.refunds}
    ok = bool(accepted) and states == Counter({"refunded": len(accepted)}) and not stray and not missing
    detail = f"{len(accepted)} accepted; states {dict(sorted(states.items()))}"
    if stray or missing:
        detail += f"; {len(stray)} refunds nobody was told of, {len(missing)} accepted refunds not in the database"
    return Check("every accepted refund reached `refunded`", ok, detail)


def check_channel_once(facts: Facts) -> Check:
    """One channel refund per request number, each equal to its refund; nothing the shop does not know of."""
    ledger: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in facts.ledger_refunds:
        ledger[(row["channel"], row["out_refund_no"])].append(row)
    repeated = sum(1 for rows in ledger.values() if len(rows) > 1)
    ours = [r for r in facts.refunds if r["destination"] == "original"]
    known = {(r["channel"], r["out_refund_no"]) for r in ours}
    unknown = sum(1 for key in ledger if key not in known)
    mismatched = 0
    for refund in ours:
        rows = ledger.get((refund["channel"], refund["out_refund_no"]), [])
        paid = [row for row in rows if row["status"] == "SUCCESS"]
        if refund["state"] == "refunded":
            mismatched += not (len(paid) == 1 and Decimal(str(paid[0]["amount"])) == refund["amount"])
        else:
            mismatched += bool(paid)
    db_sum = sum((r["amount"] for r in ours if r["state"] == "refunded"), ZERO)
    channel_sum = sum((Decimal(str(r["amount"])) for r in facts.ledger_refunds if r["status"] == "SUCCESS"), ZERO)
    ok = repeated == 0 and unknown == 0 and mismatched == 0 and db_sum == channel_sum
    detail = (
        f"{len(facts.ledger_refunds)} channel refunds for {len(ours)} refunds to the original path; "
        f"request numbers refunded twice {repeated}, unknown to the shop {unknown}, not matching their refund "
        f"{mismatched}; sum ¥{db_sum} in the shop, ¥{channel_sum} at the channel"
    )
    return Check("none paid twice: one channel refund per out_refund_no, sums equal", ok, detail)


def check_within_paid(facts: Facts) -> Check:
    live = {r["refund_no"]: r for r in facts.refunds if r["state"] not in RELEASED}
    per_order: dict[int, Decimal] = defaultdict(lambda: ZERO)
    for refund in live.values():
        per_order[refund["order_id"]] += refund["amount"]
    over_orders = [o for o, total in per_order.items() if total > facts.orders[o]["paid"]]
    per_line: dict[int, Decimal] = defaultdict(lambda: ZERO)
    for refund_no, line_id, amount, _quantity in facts.refund_lines:
        if refund_no in live:
            per_line[line_id] += amount
    over_lines = [line for line, total in per_line.items() if total > facts.order_lines[line][1]]
    paid = {(t["channel"], t["out_trade_no"]): Decimal(str(t["amount"])) for t in facts.ledger_trades}
    at_channel: dict[tuple[str, str], Decimal] = defaultdict(lambda: ZERO)
    for row in facts.ledger_refunds:
        if row["status"] in ("SUCCESS", "PROCESSING"):
            at_channel[(row["channel"], row["out_trade_no"])] += Decimal(str(row["amount"]))
    over_trades = [key for key, total in at_channel.items() if total > paid.get(key, ZERO)]
    ok = not over_orders and not over_lines and not over_trades
    detail = (
        f"orders refunded above what was paid {len(over_orders)} of {len(per_order)}, lines above their amount "
        f"{len(over_lines)} of {len(per_line)}, trades above their amount at the channel {len(over_trades)}"
    )
    return Check("no refund above its order's paid amount", ok, detail)


def check_store_credit(facts: Facts) -> Check:
    """Store credit: credited once per refund with its amount, never sent to a channel; every balance is the sum
    of its entries and the last entry's balance."""
    credit = {r["refund_no"]: r for r in facts.refunds if r["destination"] == "store_credit"}
    credited = Counter(refund_no for _a, kind, _m, _b, refund_no in facts.entries if kind == "credit")
    amounts = {refund_no: amount for _a, kind, amount, _b, refund_no in facts.entries if kind == "credit"}
    wrong = sum(
        1
        for refund_no, refund in credit.items()
        if refund["state"] == "refunded" and (credited[refund_no] != 1 or amounts[refund_no] != refund["amount"])
    )
    stray = sum(1 for refund_no in credited if refund_no not in credit)
    sent = {(r["channel"], r["out_refund_no"]) for r in credit.values()}
    to_channel = sum(1 for row in facts.ledger_refunds if (row["channel"], row["out_refund_no"]) in sent)
    sums: dict[int, Decimal] = defaultdict(lambda: ZERO)
    last: dict[int, Decimal] = {}
    for account, _kind, amount, balance_after, _refund_no in facts.entries:
        sums[account] += amount
        last[account] = balance_after
    off = sum(1 for account, balance in facts.accounts.items() if sums[account] != balance or last[account] != balance)
    ok = wrong == 0 and stray == 0 and to_channel == 0 and off == 0
    detail = (
        f"{len(credit)} store-credit refunds, ¥{sum(facts.accounts.values(), ZERO)} in {len(facts.accounts)} "
        f"balances; not credited exactly once {wrong}, credits without such a refund {stray}, sent to a channel "
        f"{to_channel}, balances not the sum of their entries {off}"
    )
    return Check("store-credit ledger consistent", ok, detail)


def check_stock(facts: Facts, restock_reference: Any) -> Check:
    """Goods never shipped go back to stock once per refunded line, and stock moved by exactly that."""
    expected: dict[str, tuple[int, Decimal]] = {}
    refunded = {r["refund_no"]: r for r in facts.refunds if r["state"] == "refunded"}
    for refund_no, line_id, _amount, quantity in facts.refund_lines:
        refund = refunded.get(refund_no)
        if refund is not None and not facts.orders[refund["order_id"]]["shipped"]:
            expected[restock_reference(refund_no, line_id)] = (facts.line_products[line_id], quantity)
    seen = Counter(reference for reference, _p, _d in facts.restocks)
    actual = {reference: (product, delta) for reference, product, delta in facts.restocks}
    repeated = sum(1 for count in seen.values() if count > 1)
    wrong = sum(1 for reference, want in expected.items() if actual.get(reference) != want)
    stray = sum(1 for reference in actual if reference not in expected)
    moved: dict[int, Decimal] = defaultdict(lambda: Decimal("0"))
    for _reference, product, delta in facts.restocks:
        moved[product] += delta
    off = sum(
        1
        for product, before in facts.stock_before.items()
        if facts.stock_after.get(product, before) - before != moved[product]
    )
    ok = repeated == 0 and wrong == 0 and stray == 0 and off == 0
    detail = (
        f"{len(expected)} lines to restock; restocked twice {repeated}, missing or wrong {wrong}, unexpected "
        f"{stray}; products whose stock moved by other than their restocks {off}"
    )
    return Check("stock ledger consistent (unshipped goods restocked once)", ok, detail)


def check_orders_follow(facts: Facts) -> Check:
    refunded: dict[int, Decimal] = defaultdict(lambda: ZERO)
    for refund in facts.refunds:
        if refund["state"] == "refunded":
            refunded[refund["order_id"]] += refund["amount"]
    wrong = 0
    for order_id, amount in refunded.items():
        order = facts.orders[order_id]
        want = ("refunded",) if amount == order["total"] else ("partially_refunded", "refunded")
        wrong += order["status"] not in want
    return Check(
        "orders' status follows their refunds",
        wrong == 0,
        f"{len(refunded)} orders with money back; status not refunded / partially refunded as due: {wrong}",
    )


# --- both hosts took work ------------------------------------------------------------------------------------


def scrape(text: str) -> dict[str, Decimal]:
    """The figures of one host's ``/metrics`` the rehearsal reads, summed over the labels that do not matter."""
    figures: dict[str, Decimal] = defaultdict(lambda: Decimal("0"))
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            name, labels, value = sample.name, sample.labels, Decimal(str(sample.value))
            if name == "refund_outcomes_total":
                figures[f"outcomes {labels['outcome']}"] += value
            elif name == "refund_channel_calls_total":
                figures[f"channel {labels['operation']} {labels['result']}"] += value
            elif (
                name == "django_http_responses_total_by_status_view_method_total"
                and labels.get("view") == "refund-list"
                and labels.get("method") == "POST"
            ):
                figures[f"applications {labels['status']}"] += value
    return dict(figures)


def check_both_hosts(
    jobs: Sequence[dict[str, int]], metrics: Sequence[dict[str, Decimal]], refunded: int
) -> list[Check]:
    """Each worker group ran refund executions, each web host accepted applications (by its own /metrics), and
    the hosts' metrics count every refund once between them."""
    executed = [group.get("payments.jobs.refund_execute", 0) for group in jobs]
    served = [int(host.get("applications 201", 0)) for host in metrics]
    counted = sum(int(host.get("outcomes success", 0)) for host in metrics)
    return [
        Check(
            "both worker groups executed refunds",
            all(n > 0 for n in executed),
            "refund executions per group " + " / ".join(str(n) for n in executed),
        ),
        Check(
            "both web hosts accepted applications (their /metrics)",
            all(n > 0 for n in served),
            "applications answered 201 per host " + " / ".join(str(n) for n in served),
        ),
        Check(
            "the hosts' metrics count each refund once",
            counted == refunded,
            f"refund_outcomes_total{{outcome=success}} summed over the hosts {counted}, refunds refunded {refunded}",
        ),
    ]


def check_answers(answers: Sequence[Any]) -> list[Check]:
    """Every application answered without a server error; of each contested pair exactly one accepted, of each
    split pair both."""
    errors = Counter(a.status for a in answers if a.status >= 500 or a.status == 0)
    by_order: dict[tuple[str, str], list[int]] = defaultdict(list)
    for answer in answers:
        by_order[(answer.task, answer.order_no)].append(answer.status)
    contested = [statuses for (task, _o), statuses in by_order.items() if task == "contested"]
    contested_wrong = sum(1 for s in contested if len(s) != 2 or sorted(s)[0] != 201 or sorted(s)[1] not in (400, 409))
    split = [statuses for (task, _o), statuses in by_order.items() if task == "split"]
    split_wrong = sum(1 for s in split if s != [201, 201])
    refused = Counter(a.status for a in answers if a.task != "contested" and a.status != 201)
    return [
        Check(
            "no application answered 5xx (or not at all)",
            not errors,
            f"{len(answers)} applications; server errors or no answer: {dict(errors) or 0}",
        ),
        Check(
            "contested orders: one of two applications accepted, across the hosts",
            bool(contested) and contested_wrong == 0,
            f"{len(contested)} orders applied for twice at once (one per host); not exactly one accepted: "
            f"{contested_wrong}",
        ),
        Check(
            "every uncontested application accepted (split orders: one line per host)",
            bool(split) and split_wrong == 0 and not refused,
            f"{sum(1 for a in answers if a.task != 'contested')} applications, refused by status {dict(refused) or 0}; "
            f"{len(split)} split orders, not both lines accepted: {split_wrong}",
        ),
    ]
