"""Refunds the system starts by itself, and the automatic approval of refunds nobody reviewed in time.

One module per sweep, each built on ``mall.sweeps`` (keyset pages, one run at a time, what a run did): so each
is idempotent (what it did is in the database and excluded from the next run: an order with a shipping-timeout
refund, an order line with its allocation, a refund no longer waiting or already escalated), works in bounded
memory, and survives being killed half way. ``dry_run=True`` writes nothing and returns what would be done.
"""

from mall.sweeps import Planned, SweepOutcome
from refunds.sweeps.auto_approval import auto_approval_due, auto_approval_sweep
from refunds.sweeps.out_of_stock import order_stock_allocate, out_of_stock_sweep
from refunds.sweeps.price_anomaly import (
    order_refund_price_anomaly,
    price_anomaly_due,
    price_anomaly_requests,
    price_anomaly_sweep,
)
from refunds.sweeps.shipping_timeout import (
    order_close_after_timeout_refund,
    order_refund_shipping_timeout,
    shipping_timeout_closable,
    shipping_timeout_due,
    shipping_timeout_sweep,
)

__all__ = [
    "Planned",
    "SweepOutcome",
    "auto_approval_due",
    "auto_approval_sweep",
    "order_close_after_timeout_refund",
    "order_refund_price_anomaly",
    "order_refund_shipping_timeout",
    "order_stock_allocate",
    "out_of_stock_sweep",
    "price_anomaly_due",
    "price_anomaly_requests",
    "price_anomaly_sweep",
    "shipping_timeout_closable",
    "shipping_timeout_due",
    "shipping_timeout_sweep",
]
