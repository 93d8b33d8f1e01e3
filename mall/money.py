"""Money of the shop: yuan as ``Decimal`` to the fen, and how amounts are printed for people.

Every amount is a ``Decimal`` with two places (``CENT``); no float ever holds money. People read ¥ with two
decimals and thousands separators (``yuan``: ¥1,234.50), on every page and in every message; files meant for
spreadsheets carry plain numbers instead (the reconciliation's reports).
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
