"""The environment the test suite runs in, set before pytest-django loads the settings: pyproject.toml names this
module as a plugin (``-p tests.environment``) because every conftest.py is read after the settings.

The suite runs the settings as a developer's machine does (``make run`` sets ``DJANGO_DEBUG=1``): the test client
speaks plain HTTP with no redirect to HTTPS, and pages find their static files without a collected manifest.
pytest-django still turns ``DEBUG`` off while the tests run. Production's settings are checked in processes of
their own (tests/test_deploy.py). A ``DJANGO_DEBUG`` given to pytest wins.
"""

from __future__ import annotations

import os
import tempfile

os.environ.setdefault("DJANGO_DEBUG", "1")
# Demo data made by tests without a simulator running books its trades into a ledger file of the run's own.
os.environ.setdefault(
    "CHANNEL_SIMULATOR_STATE_FILE", os.path.join(tempfile.mkdtemp(prefix="mall-tests-"), "channel-simulator.json")
)
