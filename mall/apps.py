from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MallConfig(AppConfig):
    name = "mall"
    verbose_name = _("Shop")

    def ready(self) -> None:
        from mall import checks  # noqa: F401 - registers the deployment checks
