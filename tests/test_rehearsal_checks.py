"""The two-host rehearsal's verdicts (benchmarks/rehearsal_checks.py): each rule passes on a consistent run and
fails, saying why, on the break it exists to catch. Plain rows in, no database or processes."""

from __future__ import annotations

import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import rehearsal_checks as checks
from rehearsal_load import Answer

D = Decimal


def _facts(**changes: Any) -> checks.Facts:
    """Two unshipped orders of ¥25.10 (two lines each): R1 to the channel, R2 to store credit, both refunded."""
    facts = checks.Facts(
        refunds=[
            {
                "refund_no": "R1",
                "order_id": 1,
                "state": "refunded",
                "destination": "original",
                "amount": D("25.10"),
                "out_refund_no": "O1",
                "channel": "alipay",
            },
            {
                "refund_no": "R2",
                "order_id": 2,
                "state": "refunded",
                "destination": "store_credit",
                "amount": D("25.10"),
                "out_refund_no": "O2",
                "channel": "wechat",
            },
        ],
        orders={
            1: {"id": 1, "status": "refunded", "total": D("25.10"), "paid": D("25.10"), "shipped": False},
            2: {"id": 2, "status": "refunded", "total": D("25.10"), "paid": D("25.10"), "shipped": False},
        },
        refund_lines=[
            ("R1", 11, D("19.50"), D("3")),
            ("R1", 12, D("5.60"), D("2")),
            ("R2", 21, D("19.50"), D("3")),
            ("R2", 22, D("5.60"), D("2")),
        ],
        order_lines={
            11: (1, D("19.50"), D("3")),
            12: (1, D("5.60"), D("2")),
            21: (2, D("19.50"), D("3")),
            22: (2, D("5.60"), D("2")),
        },
        accounts={7: D("25.10")},
        entries=[(7, "credit", D("25.10"), D("25.10"), "R2")],
        restocks=[("R1:11", 100, D("3")), ("R1:12", 200, D("2")), ("R2:21", 100, D("3")), ("R2:22", 200, D("2"))],
        line_products={11: 100, 12: 200, 21: 100, 22: 200},
        stock_before={100: D("50"), 200: D("50")},
        stock_after={100: D("56"), 200: D("54")},
        ledger_refunds=[
            {"channel": "alipay", "out_trade_no": "T1", "out_refund_no": "O1", "amount": "25.10", "status": "SUCCESS"}
        ],
        ledger_trades=[
            {"channel": "alipay", "out_trade_no": "T1", "amount": "25.10"},
            {"channel": "wechat", "out_trade_no": "T2", "amount": "25.10"},
        ],
    )
    for name, value in changes.items():
        setattr(facts, name, value)
    return facts


def _reference(refund_no: str, line_id: int) -> str:
    return f"{refund_no}:{line_id}"


def test_a_consistent_run_passes_every_money_rule() -> None:
    facts = _facts()
    results = [
        checks.check_all_refunded(facts, ["R1", "R2"]),
        checks.check_channel_once(facts),
        checks.check_within_paid(facts),
        checks.check_store_credit(facts),
        checks.check_stock(facts, _reference),
        checks.check_orders_follow(facts),
    ]
    assert [(r.ok, r.detail) for r in results] == [
        (True, "2 accepted; states {'refunded': 2}"),
        (
            True,
            "1 channel refunds for 1 refunds to the original path; request numbers refunded twice 0, unknown to the "
            "shop 0, not matching their refund 0; sum ¥25.10 in the shop, ¥25.10 at the channel",
        ),
        (
            True,
            "orders refunded above what was paid 0 of 2, lines above their amount 0 of 4, trades above their amount "
            "at the channel 0",
        ),
        (
            True,
            "1 store-credit refunds, ¥25.10 in 1 balances; not credited exactly once 0, credits without such a "
            "refund 0, sent to a channel 0, balances not the sum of their entries 0",
        ),
        (
            True,
            "4 lines to restock; restocked twice 0, missing or wrong 0, unexpected 0; products whose stock moved by "
            "other than their restocks 0",
        ),
        (True, "2 orders with money back; status not refunded / partially refunded as due: 0"),
    ]


def test_a_request_number_paid_twice_breaks_the_rule() -> None:
    row = {"channel": "alipay", "out_trade_no": "T1", "out_refund_no": "O1", "amount": "25.10", "status": "SUCCESS"}
    check = checks.check_channel_once(_facts(ledger_refunds=[row, dict(row)]))
    assert check.ok is False
    assert check.detail == (
        "2 channel refunds for 1 refunds to the original path; request numbers refunded twice 1, unknown to the "
        "shop 0, not matching their refund 1; sum ¥25.10 in the shop, ¥50.20 at the channel"
    )


def test_a_channel_refund_the_shop_does_not_know_breaks_the_rule() -> None:
    stray = {"channel": "wechat", "out_trade_no": "T2", "out_refund_no": "X9", "amount": "1.00", "status": "SUCCESS"}
    facts = _facts()
    check = checks.check_channel_once(_facts(ledger_refunds=[*facts.ledger_refunds, stray]))
    assert (check.ok, "unknown to the shop 1" in check.detail, "¥26.10 at the channel" in check.detail) == (
        False,
        True,
        True,
    )


def test_more_than_was_paid_breaks_the_rule() -> None:
    facts = _facts()
    extra = {**facts.refunds[0], "refund_no": "R3", "out_refund_no": "O3", "amount": D("0.01"), "state": "refunding"}
    check = checks.check_within_paid(
        _facts(refunds=[*facts.refunds, extra], refund_lines=[*facts.refund_lines, ("R3", 12, D("0.01"), D("0"))])
    )
    assert check.ok is False
    assert check.detail == (
        "orders refunded above what was paid 1 of 2, lines above their amount 1 of 4, trades above their amount "
        "at the channel 0"
    )


def test_a_released_refund_holds_no_money() -> None:
    facts = _facts()
    cancelled = {**facts.refunds[0], "refund_no": "R3", "out_refund_no": "O3", "state": "cancelled"}
    assert checks.check_within_paid(_facts(refunds=[*facts.refunds, cancelled])).ok is True


def test_a_balance_that_is_not_the_sum_of_its_entries_breaks_the_store_credit_ledger() -> None:
    check = checks.check_store_credit(_facts(accounts={7: D("50.20")}))
    assert check.ok is False
    assert check.detail.endswith("balances not the sum of their entries 1")


def test_a_store_credit_refund_at_the_channel_breaks_the_store_credit_ledger() -> None:
    facts = _facts()
    sent = {"channel": "wechat", "out_trade_no": "T2", "out_refund_no": "O2", "amount": "25.10", "status": "SUCCESS"}
    check = checks.check_store_credit(_facts(ledger_refunds=[*facts.ledger_refunds, sent]))
    assert (check.ok, "sent to a channel 1" in check.detail) == (False, True)


def test_goods_restocked_twice_break_the_stock_ledger() -> None:
    facts = _facts()
    check = checks.check_stock(
        _facts(restocks=[*facts.restocks, ("R1:11", 100, D("3"))], stock_after={100: D("59"), 200: D("54")}),
        _reference,
    )
    assert check.ok is False
    assert check.detail == (
        "4 lines to restock; restocked twice 1, missing or wrong 0, unexpected 0; products whose stock moved by "
        "other than their restocks 0"
    )


def test_stock_moved_by_something_else_breaks_the_stock_ledger() -> None:
    check = checks.check_stock(_facts(stock_after={100: D("55"), 200: D("54")}), _reference)
    assert (check.ok, check.detail.endswith("other than their restocks 1")) == (False, True)


def test_a_refund_nobody_was_told_of_is_caught() -> None:
    check = checks.check_all_refunded(_facts(), ["R1"])
    assert check.ok is False
    assert check.detail == (
        "1 accepted; states {'refunded': 2}; 1 refunds nobody was told of, 0 accepted refunds not in the database"
    )


def test_an_order_left_paid_after_its_refund_is_caught() -> None:
    facts = _facts()
    facts.orders[1]["status"] = "paid"
    assert checks.check_orders_follow(facts) == checks.Check(
        "orders' status follows their refunds",
        False,
        "2 orders with money back; status not refunded / partially refunded as due: 1",
    )


def _answers(*rows: tuple[str, str, int, int]) -> list[Answer]:
    return [Answer(task, order_no, host, status) for task, order_no, host, status in rows]


def test_answers_pass_when_one_contested_application_wins_and_split_lines_both_do() -> None:
    answers = _answers(
        ("contested", "A1", 0, 201),
        ("contested", "A1", 1, 409),
        ("split", "A2", 0, 201),
        ("split", "A2", 1, 201),
        ("full", "A3", 1, 201),
    )
    assert [check.ok for check in checks.check_answers(answers)] == [True, True, True]


def test_both_contested_applications_accepted_breaks_the_rule() -> None:
    answers = _answers(
        ("contested", "A1", 0, 201), ("contested", "A1", 1, 201), ("split", "A2", 0, 201), ("split", "A2", 1, 201)
    )
    contested = checks.check_answers(answers)[1]
    assert (contested.ok, contested.detail) == (
        False,
        "1 orders applied for twice at once (one per host); not exactly one accepted: 1",
    )


def test_a_server_error_or_a_refused_application_is_caught() -> None:
    answers = _answers(
        ("contested", "A1", 0, 201),
        ("contested", "A1", 1, 500),
        ("split", "A2", 0, 201),
        ("split", "A2", 1, 429),
        ("full", "A3", 0, 0),
    )
    errors, contested, uncontested = checks.check_answers(answers)
    assert (errors.ok, errors.detail) == (False, "5 applications; server errors or no answer: {500: 1, 0: 1}")
    assert contested.ok is False
    assert (uncontested.ok, uncontested.detail) == (
        False,
        "3 applications, refused by status {429: 1, 0: 1}; 1 split orders, not both lines accepted: 1",
    )


METRICS = """\
# HELP refund_outcomes_total Refunds the channel finally answered.
# TYPE refund_outcomes_total counter
refund_outcomes_total{channel="alipay",outcome="success"} 20.0
refund_outcomes_total{channel="store_credit",outcome="success"} 3.0
refund_outcomes_total{channel="wechat",outcome="failed"} 1.0
# HELP refund_channel_calls_total Calls to a payment channel by operation and result.
# TYPE refund_channel_calls_total counter
refund_channel_calls_total{channel="alipay",operation="refund",result="success"} 12.0
refund_channel_calls_total{channel="wechat",operation="refund",result="success"} 8.0
refund_channel_calls_total{channel="wechat",operation="refund",result="temporary_error"} 1.0
# HELP django_http_responses_total_by_status_view_method_total Count of responses by status, view, method.
# TYPE django_http_responses_total_by_status_view_method_total counter
django_http_responses_total_by_status_view_method_total{method="POST",status="201",view="refund-list"} 24.0
django_http_responses_total_by_status_view_method_total{method="POST",status="409",view="refund-list"} 2.0
django_http_responses_total_by_status_view_method_total{method="GET",status="200",view="refund-list"} 5.0
django_http_responses_total_by_status_view_method_total{method="POST",status="201",view="other"} 7.0
"""


def test_a_hosts_metrics_are_read_into_its_figures() -> None:
    assert checks.scrape(METRICS) == {
        "outcomes success": D("23.0"),
        "outcomes failed": D("1.0"),
        "channel refund success": D("20.0"),
        "channel refund temporary_error": D("1.0"),
        "applications 201": D("24.0"),
        "applications 409": D("2.0"),
    }


def test_both_hosts_must_take_work_and_count_each_refund_once() -> None:
    host = checks.scrape(METRICS)
    idle = {"outcomes success": D("0")}
    jobs = [{"payments.jobs.refund_execute": 20}, {"payments.jobs.refund_execute": 0}]
    assert [(c.ok, c.detail) for c in checks.check_both_hosts(jobs, [host, idle], refunded=24)] == [
        (False, "refund executions per group 20 / 0"),
        (False, "applications answered 201 per host 24 / 0"),
        (False, "refund_outcomes_total{outcome=success} summed over the hosts 23, refunds refunded 24"),
    ]
    jobs = [{"payments.jobs.refund_execute": 12}, {"payments.jobs.refund_execute": 11}]
    assert [c.ok for c in checks.check_both_hosts(jobs, [host, host], refunded=46)] == [True, True, True]
