"""Demo data: a usable shop with customers, staff in each role, orders in every interesting state, and work
waiting for each role (``work``), all paid and refunded through the channel simulator (``gateway``).

- ``demo_standing`` (``manage.py seed_demo``, run by ``make run``): the standing set, made once; every later run on
  the same data returns the same logins and adds nothing.
- ``demo_seed`` (``manage.py seed_demo --json``): a fresh set each time (usernames carry a run suffix), so running
  it twice adds a second set and never fails.

The demo is a composition root: it drives the apps' services the way the shop's customers and staff do.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

from mall.demo import accounts, gateway, shop, work
from mall.demo.accounts import People, Person
from mall.models import Order
from mall.roles import CS_SUPERVISOR, CUSTOMER_SERVICE, roles_bootstrap
from mall.shoptime import shop_today

__all__ = ["DemoSet", "demo_seed", "demo_standing"]


@dataclass
class DemoSet:
    customers: list[dict[str, Any]] = field(default_factory=list)
    staff: list[dict[str, Any]] = field(default_factory=list)
    made: bool = True  # False: the standing set was there already, and nothing was added


def _populate(staff: dict[str, Person], customers: list[Person]) -> None:
    day = shop_today()
    for customer in customers:
        shop.customer_orders(customer.user)
    work.staff_work(
        customers=[customer.user for customer in customers],
        staff=work.Staffing(agent=staff[CUSTOMER_SERVICE].user, supervisor=staff[CS_SUPERVISOR].user),
    )
    # The refunds were made between then and now: a seeding across midnight reconciles both days.
    work.reconcile(days=[day, shop_today()])


def _described(people: People, *, made: bool) -> DemoSet:
    return DemoSet(
        customers=[
            {
                "username": person.user.username,
                "password": person.password,
                "token": person.token,
                "orders": [
                    shop.order_json(order) for order in Order.objects.filter(customer=person.user).order_by("id")
                ],
            }
            for person in people.customers
        ],
        staff=[
            {"username": person.user.username, "password": person.password, "groups": [person.role]}
            for person in people.staff.values()
        ],
        made=made,
    )


def _prepare() -> None:
    roles_bootstrap()
    shop.ensure_products()
    shop.ensure_return_warehouse()


def demo_seed(*, customers: int = 3) -> DemoSet:
    """A fresh set: its own customers and staff, their orders, and the work."""
    run = secrets.token_hex(3)
    with gateway.simulator_standing_in():
        _prepare()
        people = People(staff=accounts.fresh_staff(run), customers=accounts.fresh_customers(run, customers))
        _populate(people.staff, people.customers)
    return _described(people, made=True)


def demo_standing(*, customers: int = 3) -> DemoSet:
    """The standing set: made on the first run (with up to six customers), returned as it is on later runs."""
    if accounts.standing_exists():
        return _described(accounts.standing_people(), made=False)
    with gateway.simulator_standing_in():
        _prepare()
        staff = accounts.standing_staff(including_marker=False)
        buyers = accounts.standing_customers(customers)
        _populate(staff, buyers)
    return _described(People(staff=accounts.standing_staff(including_marker=True), customers=buyers), made=True)
