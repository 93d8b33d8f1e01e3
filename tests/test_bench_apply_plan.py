"""The apply benchmark's plan: every client gets whole-order and one-unit applications in the same shares, so
that no client runs out of work long before the others."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from refund_apply import _apply_bodies


def test_each_clients_orders_give_both_kinds_of_application_in_equal_shares() -> None:
    plan = [{"order_no": f"O{n}", "token": f"t{n}", "items": [[10 * n + 1, 2], [10 * n + 2, 1]]} for n in range(8)]
    owners = 2
    works = [_apply_bodies(plan[c::owners]) for c in range(owners)]

    # Per client: 2 whole-order applications and 2 orders x 3 units, one unit each.
    assert [len(work) for work in works] == [8, 8]
    for client, work in enumerate(works):
        whole = [body for _token, body in work if len(body["items"]) == 2]
        assert [body["order_no"] for body in whole] == [f"O{client}", f"O{client + 4}"]
        units = [
            (body["order_no"], item["order_item_id"])
            for _token, body in work
            for item in body["items"]
            if len(body["items"]) == 1
        ]
        first, second = client + 2, client + 6
        # Interleaved across the client's orders: one unit of each in turn.
        assert units == [
            (f"O{first}", 10 * first + 1),
            (f"O{second}", 10 * second + 1),
            (f"O{first}", 10 * first + 1),
            (f"O{second}", 10 * second + 1),
            (f"O{first}", 10 * first + 2),
            (f"O{second}", 10 * second + 2),
        ]
