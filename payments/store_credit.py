"""Store credit: a customer's shop balance, and the ledger of every change to it.

A refund paid to store credit is "executed" here instead of at a channel: the execution job of a refund in
`refunding` whose destination is store credit credits the balance and marks the refund refunded in one transaction,
with no call to anyone. The balance lives on one row per customer (``StoreCreditAccount``) that every change updates
under its row lock, after the order's and the refund's (the project's one lock order); each change adds a ledger
entry. The database holds the rules whatever the code does: a refund is credited once (unique refund and kind),
and neither the balance nor any entry's balance after it is ever negative (check constraints).
"""

from __future__ import annotations

import logging
from decimal import Decimal

from django.db import transaction
from django.utils.translation import gettext as _

from mall.actors import Customer
from mall.money import CENT
from mall.transactions import atomic_with_retry
from payments.exceptions import StoreCreditError
from payments.models import StoreCreditAccount, StoreCreditEntry, StoreCreditKind
from refunds import remedies
from refunds.lifecycle import lock_refund
from refunds.models import Refund, RefundDestination, RefundState

logger = logging.getLogger(__name__)


def _account_locked(customer_id: int) -> StoreCreditAccount:
    """The customer's balance row, created on first use and locked. Created by a plain INSERT (which two
    first credits at once settle by the unique key), never by a locking read of a missing row: those take gap
    locks that two transactions would both hold and then deadlock on."""
    StoreCreditAccount.objects.get_or_create(customer_id=customer_id)
    return StoreCreditAccount.objects.select_for_update().get(customer_id=customer_id)


def _add_entry(
    account: StoreCreditAccount, *, kind: str, amount: Decimal, refund: Refund | None, note: str
) -> StoreCreditEntry:
    account.balance += amount
    account.save(update_fields=["balance", "updated_at"])
    return StoreCreditEntry.objects.create(
        account=account, kind=kind, amount=amount, balance_after=account.balance, refund=refund, note=note[:255]
    )


@atomic_with_retry(lock_wait_timeout=True)
def refund_credit_store(*, refund_id: int) -> str:
    """Pay a refund in `refunding` to its customer's store credit: the ledger's credit and the refund's move to
    `refunded`, together or not at all. Safe to run twice or at once: the second finds the refund refunded (or
    waits for the first's locks and then does), and the database's unique key would refuse a second credit."""
    refund = lock_refund(refund_id)
    if refund.state != RefundState.REFUNDING or refund.destination != RefundDestination.STORE_CREDIT:
        return f"skipped: {refund.state}"
    account = _account_locked(refund.customer_id)
    _add_entry(account, kind=StoreCreditKind.CREDIT, amount=refund.amount, refund=refund, note="")
    remedies.refund_mark_credited(refund=refund)
    logger.info("refund %s of %s credited to store credit", refund.refund_no, refund.amount)
    return "credited"


@transaction.atomic
def store_credit_spend(*, customer: Customer, amount: Decimal, note: str) -> StoreCreditEntry:
    """Take ``amount`` from the customer's balance (paying in the shop). Refused, changing nothing, above the
    balance."""
    if not isinstance(amount, Decimal) or not amount.is_finite() or amount <= 0 or amount != amount.quantize(CENT):
        raise StoreCreditError(_("The amount must be positive, with at most two decimals."), field="amount")
    account = _account_locked(customer.pk)
    if amount > account.balance:
        raise StoreCreditError(_("The store credit balance is not enough."), field="amount")
    return _add_entry(account, kind=StoreCreditKind.SPEND, amount=-amount, refund=None, note=note)


def store_credit_balance(*, customer: Customer) -> Decimal:
    balance = StoreCreditAccount.objects.filter(customer=customer).values_list("balance", flat=True).first()
    return balance if balance is not None else Decimal("0.00")


__all__ = ["refund_credit_store", "store_credit_balance", "store_credit_spend"]
