from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PaymentsConfig(AppConfig):
    name = "payments"
    verbose_name = _("Payments")

    def ready(self) -> None:
        from django_fsm.signals import post_transition

        from payments import (
            roles,
            texts,  # noqa: F401 - the codes of its notes (mall.texts)
        )
        from payments.metrics import refund_left_refunding
        from refunds.lifecycle import on_enter
        from refunds.models import RefundState

        roles.register()
        post_transition.connect(refund_left_refunding, dispatch_uid="payments.metrics.refund_left_refunding")
        # Money first: the channel's execution on the queue workers serve before any other.
        on_enter(RefundState.REFUNDING, job="payments.jobs.refund_execute", queue="refunds")
        # The customer's message, the voucher and the restock of goods never shipped: one job, after the money.
        on_enter(RefundState.REFUNDED, job="payments.jobs.refund_follow_up", queue="notifications")

        from payments import console

        console.register()
