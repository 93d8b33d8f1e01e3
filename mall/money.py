"""Money of the shop: yuan as ``Decimal`` to the fen, and how amounts are printed for people.

Every amount is a ``Decimal`` with two places (``CENT``); no float ever holds money. People read ¥ with two
decimals and thousands separators (``yuan``: ¥1,234.50). The reconciliation's CSV export, and its pages that
show the same rows, print without separators (``yuan_plain``: ¥1234.50): the comma stays out of the cells of a
comma-separated file that finance's own tools read naively, and a figure seen on the page is found in the file
as printed.
"""

from __future__ import annotations

from decimal import Decimal

CENT = Decimal("0.01")
ZERO = Decimal("0.00")


def to_fen(amount: Decimal, *, rounding: str | None = None) -> Decimal:
    """``amount`` rounded to the fen (the context's rounding, half to even, unless ``rounding`` says otherwise)."""
    return amount.quantize(CENT, rounding=rounding)


def is_whole_fen(amount: Decimal) -> bool:
    """Whether ``amount`` has no part smaller than a fen (12.50 yes, 12.505 no)."""
    return amount == amount.quantize(CENT)


def yuan(amount: Decimal | int) -> str:
    """¥1,234.50"""
    return f"¥{Decimal(amount):,.2f}"


def yuan_plain(amount: Decimal | int) -> str:
    """¥1234.50: the reconciliation's format (see the module's docstring)."""
    return f"¥{Decimal(amount):.2f}"
