"""The console in a real browser, as staff in China see it: Debian's chromium driven by Playwright (nothing is
downloaded) against the live test server, in Chinese (``zh-CN``, Asia/Shanghai, 1440×900, CJK fonts from Debian's
``fonts-noto-cjk``), on the demo shop of ``make run``.

Jobs run in this process right after each commit, as under ``make run``, so a refund approved in the browser is
paid by the channel simulator before the next page shows. Each walk counts the clicks and page loads it takes;
the summary at the end of the run prints them next to what the same task took before the console was reworked
(``BEFORE``), and writes them to ``test-artifacts/clicks.txt``. Screenshots of each main page go to
``test-artifacts/`` (not committed; the README's are copied from there into ``docs/screenshots/``).

The demo is made afresh for each walk, on a database as ``migrate`` leaves it: the walks empty every table after
each test, so what the seeding migrations write (the preset rejection reasons) is written again first
(``migrated_data``).
"""

from __future__ import annotations

import resource
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.apps import apps as django_apps
from django.conf import settings
from django.db import connection
from django.db.migrations import RunPython
from django.db.migrations.loader import MigrationLoader

from mall.demo import DemoSet, demo_standing
from tests.browser.pages import Console, Mark, Walk
from tests.channel_simulator import (  # noqa: F401 - fixtures
    channel_keys,
    channel_simulator,
    channel_simulator_server,
    notification_inbox,
    notification_inbox_server,
)

ARTIFACTS = Path(settings.BASE_DIR) / "test-artifacts"
CONTEXT = {
    "locale": "zh-CN",
    "timezone_id": "Asia/Shanghai",
    "viewport": {"width": 1440, "height": 900},
    "extra_http_headers": {"Accept-Language": "zh-CN,zh;q=0.9"},
    "accept_downloads": True,
}
# What each task took in the console before it was reworked, as the walks counted it then: (clicks, fields typed),
# from the console's home page unless the task says from where.
BEFORE = {
    "approve": (3, 0),
    "reject with a preset reason": (4, 2),  # the order number searched, and the reason typed
    "compensation refund (from the refund page)": (2, 2),
    "inspect and pay": (11, 1),
    "inspect and pay (from the refund page)": (8, 1),
    "resolve a dispute with compensation": (4, 2),
    "reconcile and download CSV and XLSX": (7, 1),
    "approve above the cap (supervisor)": (3, 0),
}


def effort(clicks: int, typed: int) -> str:
    return f"{clicks} click{'' if clicks == 1 else 's'}" + (f" + {typed} typed" if typed else "")


@dataclass(frozen=True)
class Walked:
    task: str
    clicks: int
    loads: int
    typed: int
    steps: list[str]

    def line(self) -> str:
        before = effort(*BEFORE[self.task]) if self.task in BEFORE else "—"
        return (
            f"{self.task}: before {before}; after {effort(self.clicks, self.typed)}, "
            f"{self.loads} page load{'' if self.loads == 1 else 's'} "
            f"({' › '.join(self.steps)})"
        )


# Every task walked in this run, for the summary.
WALKS: list[Walked] = []


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


@pytest.fixture(scope="session")
def seeds(django_db_setup: None) -> list[tuple[Any, Any]]:
    """The steps of the shop's seeding migrations (named ``*_seed_*``: the preset rejection reasons), each with the
    models as they were when it ran. Other data migrations convert rows that exist: they have nothing to do on an
    empty database, and the tables some of them read are gone."""
    loader = MigrationLoader(None, ignore_no_migrations=True)
    ours = {app.label for app in django_apps.get_app_configs() if Path(app.path).is_relative_to(settings.BASE_DIR)}
    steps: list[tuple[Any, Any]] = []
    for key in sorted(key for key in loader.disk_migrations if key[0] in ours and "_seed_" in key[1]):
        state = loader.project_state(key, at_end=False)
        for operation in loader.disk_migrations[key].operations:
            if isinstance(operation, RunPython):
                steps.append((operation.code, state.apps))
            else:
                operation.state_forwards(key[0], state)
    return steps


@pytest.fixture
def migrated_data(seeds: list[tuple[Any, Any]]) -> None:
    """What the seeding migrations write, written again: each transactional test empties every table when it ends
    (content types and permissions are made again by Django, seeds are not). Django's ``serialized_rollback``
    is no way out: it restores nothing once Playwright's event loop runs in this thread (Django then hands the
    thread other connection objects, without the copy it kept), and after it the next transactional test finds
    no permissions."""
    with connection.schema_editor() as editor:
        for code, models in seeds:
            code(models, editor)


@pytest.fixture
def demo(shop_like_make_run: Any, migrated_data: None, request: pytest.FixtureRequest) -> DemoSet:
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
def walk() -> Walk:
    """Record what a task took, by its name (call it when the task is done), from the start of the count or
    ``since`` a mark (``Console.mark``)."""

    def done(task: str, tab: Console, *, since: Mark | None = None) -> None:
        start = since or Mark(0, 0, 0)
        WALKS.append(
            Walked(
                task,
                tab.clicks - start.clicks,
                tab.loads - start.loads,
                len(tab.typed) - start.typed,
                tab.steps[start.clicks :],
            )
        )

    return done


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "demo_customers(n): how many customers the walk's demo shop has")


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not WALKS:
        return
    lines = [walked.line() for walked in WALKS]
    # The machine may be shared: the processor time the run took (the browser's processes included, once closed)
    # says more about its cost than the time on the clock.
    used = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    lines.append(f"processor time of this run: {sum(u.ru_utime + u.ru_stime for u in used):.1f} s")
    terminalreporter.section("clicks per task in the console, before and after")
    for line in lines:
        terminalreporter.write_line(line)
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "clicks.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
