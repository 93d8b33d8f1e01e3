from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class LogisticsConfig(AppConfig):
    name = "logistics"
    verbose_name = _("Logistics")

    def ready(self) -> None:
        from logistics import roles, texts  # noqa: F401 - texts: the codes of its notes (mall.texts)
        from refunds.lifecycle import on_enter
        from refunds.models import RefundState

        roles.register()
        on_enter(RefundState.INTERCEPTING, job="logistics.jobs.interception_request", queue="default")
        on_enter(RefundState.REPLACING, job="logistics.jobs.replacement_ship", queue="default")

        from logistics import console, messages

        console.register()
        messages.register()
