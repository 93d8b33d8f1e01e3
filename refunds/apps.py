from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RefundsConfig(AppConfig):
    name = "refunds"
    verbose_name = _("Refunds")

    def ready(self) -> None:
        # The codes of the timeline's notes, defined before any note is read (mall.texts).
        from refunds import texts  # noqa: F401
