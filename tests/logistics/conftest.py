"""Logistics tests run the real HTTP carrier adapter against the carrier simulator (a real HTTP server on
127.0.0.1); its notifications are collected by an inbox and handed to the app exactly as received."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.utils import translation

from logistics.models import Warehouse
from tests.carrier_simulator import (  # noqa: F401 - fixtures shared with other test folders
    carrier_inbox,
    carrier_inbox_server,
    carrier_secret,
    carrier_simulator,
    carrier_simulator_server,
)
from tests.channel_simulator import (  # noqa: F401 - the money path of replacements that cannot ship
    channel_keys,
    channel_simulator,
    channel_simulator_server,
    notification_inbox,
    notification_inbox_server,
)


@pytest.fixture
def warehouse(db: None) -> Warehouse:
    Warehouse.objects.create(name="旧仓", contact="王", phone="021-1", address="上海旧址", active=False)
    return Warehouse.objects.create(
        name="上海退货仓", contact="李师傅", phone="021-55550000", address="上海市嘉定区鲜果路 8 号", is_default=True
    )


@pytest.fixture(autouse=True)
def shop_language() -> None:
    """Each test starts in the shop's language, as a job or a request without a choice does: a console request of an
    earlier test in English leaves its language active in the thread."""
    translation.activate(settings.LANGUAGE_CODE)
