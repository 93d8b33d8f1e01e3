from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PaymentsConfig(AppConfig):
    name = "payments"
    verbose_name = _("Payments")

    def ready(self) -> None:
        from django_fsm.signals import post_transition

        from payments.metrics import refund_left_refunding

        post_transition.connect(refund_left_refunding, dispatch_uid="payments.metrics.refund_left_refunding")

        from payments import console

        console.register()
