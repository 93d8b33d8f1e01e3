from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class NoticesConfig(AppConfig):
    """Messages to customers about their refunds: the inbox, emails, and which steps are told."""

    name = "notices"
    verbose_name = _("Customer messages")

    def ready(self) -> None:
        from notices import console, roles, steps

        roles.register()
        steps.register_core_steps()
        console.register()
