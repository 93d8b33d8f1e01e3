"""Payment channel tests run the real SDK adapters against the channel simulator (a real HTTP server)."""

from tests.channel_simulator import (  # noqa: F401 - fixtures shared with other test folders
    channel_keys,
    channel_simulator,
    channel_simulator_server,
    notification_inbox,
    notification_inbox_server,
    patient_simulator,
)
