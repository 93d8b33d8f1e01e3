"""The console in a real browser, as staff in China see it: Debian's chromium driven by Playwright (nothing is
downloaded) against the live test server, in Chinese (``zh-CN``, Asia/Shanghai, 1440×900, CJK fonts from Debian's
``fonts-noto-cjk``), on the demo shop of ``make run``.

Jobs run in this process right after each commit, as under ``make run``, so a refund approved in the browser is
paid by the channel simulator before the next page shows. Each walk counts the clicks and page loads it takes;
the summary at the end of the run prints them (and writes ``test-artifacts/clicks.txt``). Screenshots of each main
page go to ``test-artifacts/`` (not committed).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from mall.demo import DemoSet, demo_standing
from tests.browser.pages import Console
from tests.channel_simulator import (  # noqa: F401 - fixtures
    channel_keys,
    channel_simulator,
    channel_simulator_server,
    notification_inbox,
    notification_inbox_server,
)

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(settings.BASE_DIR) / "test-artifacts"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
CONTEXT = {
    "locale": "zh-CN",
    "timezone_id": "Asia/Shanghai",
    "viewport": {"width": 1440, "height": 900},
    "extra_http_headers": {"Accept-Language": "zh-CN,zh;q=0.9"},
    "accept_downloads": True,
}
# (task, clicks, page loads, steps) of every task walked in this run, for the summary.
WALKS: list[tuple[str, int, int, list[str]]] = []


@pytest.fixture(scope="session")
def chromium(django_db_setup: None) -> Iterator[Any]:
    assert CHROMIUM.exists(), "Debian's chromium is not installed (scripts/bootstrap.sh dev installs it)"
    from playwright import sync_api

    # Playwright's sync API keeps an event loop in this thread while the browser is open; the ORM calls the
    # tests make meanwhile are plain synchronous code, so Django's async-context guard is lifted for them.
    with pytest.MonkeyPatch.context() as patch, sync_api.sync_playwright() as playwright:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield browser
        browser.close()


@pytest.fixture
def shop_like_make_run(
    channel_simulator: Any,  # noqa: F811
    settings: Any,
    tmp_path: Path,
) -> Any:
    """The settings of ``make run``: the channels are the simulator with the demo keys, jobs run in process."""
    settings.ALIPAY_APP_ID = ""
    settings.WECHAT_MCH_ID = ""
    settings.CHANNEL_SIMULATOR_ENABLED = True
    settings.CHANNEL_SIMULATOR_STATE_FILE = tmp_path / "channel-simulator.json"
    settings.CHANNEL_TIMEOUT_SECONDS = 10.0
    settings.JOBS_IN_PROCESS = True
    settings.MEDIA_ROOT = tmp_path / "media"
    return channel_simulator


@pytest.fixture
def demo(shop_like_make_run: Any, request: pytest.FixtureRequest) -> DemoSet:
    """The standing demo of ``make run`` (one customer unless the test is marked ``demo_customers(n)``)."""
    marker = request.node.get_closest_marker("demo_customers")
    return demo_standing(customers=marker.args[0] if marker else 1)


@pytest.fixture
def console(chromium: Any, live_server: Any, demo: DemoSet) -> Iterator[Callable[[str], Console]]:
    """Sign in as one of the demo's staff (by role: ``customer_service``, ``cs_supervisor``, ``finance``,
    ``operations``); the browser tab starts on the console's home page."""
    ARTIFACTS.mkdir(exist_ok=True)
    contexts = []
    consoles: list[Console] = []

    def sign_in(role: str) -> Console:
        person = next(staff for staff in demo.staff if staff["groups"] == [role])
        context = chromium.new_context(**CONTEXT)
        contexts.append(context)
        tab = Console(context.new_page(), live_server.url, ARTIFACTS)
        tab.sign_in(person["username"], person["password"])
        consoles.append(tab)
        return tab

    yield sign_in
    for context in contexts:
        context.close()
    # Chromium reports what the Content-Security-Policy blocked as console errors: no page may have any.
    assert [violation for tab in consoles for violation in tab.csp_violations] == []


@pytest.fixture
def walk() -> Callable[[str, Console], None]:
    """Record what a task took, by its name (call it when the task is done)."""

    def done(task: str, tab: Console) -> None:
        WALKS.append((task, tab.clicks, tab.loads, list(tab.steps)))

    return done


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "demo_customers(n): how many customers the walk's demo shop has")


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not WALKS:
        return
    lines = [
        f"{name}: {clicks} clicks, {loads} page loads ({' › '.join(steps)})" for name, clicks, loads, steps in WALKS
    ]
    terminalreporter.section("clicks per task in the console")
    for line in lines:
        terminalreporter.write_line(line)
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "clicks.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
