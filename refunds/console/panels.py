"""What other apps add to the refund page, registered from their ``AppConfig.ready()``.

``refunds`` sits below ``payments`` and ``logistics`` and imports neither: an app that keeps records of a refund
(channel attempts, the voucher, the interception, the inspection) registers a panel that loads them and a template
that shows them, and an app that takes over a step of the refund's life from the console registers the service
behind that button, or says the step is done on a page of its own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from mall.actors import Staff
from refunds.models import Refund


class ActService(Protocol):
    def __call__(self, *, refund: Refund, actor: Staff, note: str) -> Refund: ...


@dataclass(frozen=True)
class RefundPanel:
    """A block of the refund page. ``load`` reads what the template shows (one call per page view);
    ``template`` is drawn among the page's records, ``workbench_template`` (optional) under its buttons. Both see
    the refund as ``refund`` and what ``load`` returned as ``panel``. Panels are drawn by ``order``, then key."""

    key: str
    load: Callable[[Refund], Mapping[str, Any]]
    template: str
    workbench_template: str | None = None
    order: int = 100


@dataclass(frozen=True)
class LoadedPanel:
    panel: RefundPanel
    data: Mapping[str, Any]


_panels: dict[str, RefundPanel] = {}
_act_services: dict[str, ActService] = {}
_acts_elsewhere: set[str] = set()


def register_panel(panel: RefundPanel) -> None:
    """Idempotent per key: registering the same key again replaces the panel (a reloaded app config)."""
    _panels[panel.key] = panel


def register_act_service(*, act: str, service: ActService) -> None:
    """The console's ``act`` button calls ``service`` instead of the default in ``refunds``."""
    _act_services[act] = service


def register_act_elsewhere(*, act: str) -> None:
    """The console does not offer ``act``: the app that registers this completes that step on its own page."""
    _acts_elsewhere.add(act)


def panels() -> list[RefundPanel]:
    return sorted(_panels.values(), key=lambda panel: (panel.order, panel.key))


def load_panels(*, refund: Refund) -> list[LoadedPanel]:
    return [LoadedPanel(panel=panel, data=panel.load(refund)) for panel in panels()]


def act_service(act: str) -> ActService | None:
    return _act_services.get(act)


def act_elsewhere(act: str) -> bool:
    return act in _acts_elsewhere


def unregister(*, panel: str | None = None, act: str | None = None) -> None:
    """Forget a registration (tests that register their own panel or service)."""
    if panel is not None:
        _panels.pop(panel, None)
    if act is not None:
        _act_services.pop(act, None)
        _acts_elsewhere.discard(act)
