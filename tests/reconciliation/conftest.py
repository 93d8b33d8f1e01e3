"""Reconciliation tests: our refunds built through the real services, the channel's side booked in the channel
simulator through the real adapters."""

from tests.channel_simulator import (  # noqa: F401 - fixtures shared with other test folders
    channel_keys,
    channel_simulator,
    channel_simulator_server,
    notification_inbox,
    notification_inbox_server,
    patient_simulator,
)
