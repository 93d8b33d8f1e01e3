"""Fixtures of the customer-message tests: the channel simulator (shared with tests/payments), a real SMTP server,
and the shop's return address."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from logistics.models import Warehouse
from tests.channel_simulator import (  # noqa: F401 - fixtures shared with other test folders
    channel_keys,
    channel_simulator,
    channel_simulator_server,
    notification_inbox,
    notification_inbox_server,
)
from tests.smtp_sink import SmtpSink, smtp_sink_running


@pytest.fixture
def smtp_sink(settings: Any) -> Iterator[SmtpSink]:
    with smtp_sink_running(settings) as sink:
        yield sink


@pytest.fixture
def warehouse(db: None) -> Warehouse:
    return Warehouse.objects.create(
        name="水果商城退货仓",
        contact="王仓管",
        phone="021-5555-0101",
        address="上海市浦东新区货运路 8 号",
        is_default=True,
    )
