"""System checks of the deployment (``manage.py check --deploy``)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Tags, Warning, register


@register(Tags.security, deploy=True)
def secret_key_from_environment(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    # The generated key (mall/secret_key.py) keeps one host running; several hosts would each sign with their own.
    if not getattr(settings, "SECRET_KEY_GENERATED", False):
        return []
    return [
        Warning(
            f"DJANGO_SECRET_KEY is not set: this host signs with the key generated into {settings.SECRET_KEY_FILE}.",
            hint="Set DJANGO_SECRET_KEY (the same on every host), e.g. in /etc/fruit-mall/env.",
            id="mall.W001",
        )
    ]
