"""The demo's payments and refunds go through the channel simulator, as the shop's own do in development.

A gateway knows every payment it took, and the demo makes its payments up: it tells the simulator of each
(``trade_register``). A demo refund that says "refunded" was sent by the shop's adapters to the simulator and
confirmed by it (``refund_pay_out``), so the channel's statement lists it and reconciliation matches it.

``make run`` seeds before its ``channels:`` process starts. ``simulator_standing_in`` then runs the simulator in this
process for the time of the seeding, on the address the adapters are configured with and with the ledger file
that process starts from (``CHANNEL_SIMULATOR_STATE_FILE``): what the demo paid and refunded is in the ledger the
running simulator keeps. A simulator already answering at that address is used as it is.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

import requests
from django.conf import settings

from mall.models import Order
from payments import services as payment_services
from payments.channels.base import ChannelTemporaryError, RefundRequest, RefundResult
from payments.channels.demo_keys import ensure_keys
from payments.channels.registry import get_channel, notify_url
from payments.simulator.client import register_trade
from payments.simulator.server import ChannelSimulator
from refunds.models import Refund, RefundState

HEALTH_TIMEOUT_SECONDS = 2.0
PAY_OUT_ATTEMPTS = 3
PAY_OUT_RETRY_SECONDS = 1.0


class DemoRefused(Exception):
    """The demo cannot be made here, or its payments did not go through the simulator as they must."""


def simulated(channel: str) -> bool:
    """Whether ``channel``'s adapter talks to the simulator with the demo keys (the settings' table says so)."""
    options = settings.PAYMENT_CHANNELS.get(channel, {}).get("OPTIONS", {})
    return bool(options.get("demo_keys"))


def trade_register(order: Order) -> None:
    """Tell the simulator of a payment the demo made up. A simulator not running (a demo order made outside
    ``simulator_standing_in``) finds it in the ledger file it starts from."""
    channel = order.channel
    if not channel or not simulated(channel):
        return
    payment = order.payment
    register_trade(
        channel=channel,
        out_trade_no=payment.out_trade_no,
        trade_no=payment.trade_no,
        amount=payment.amount,
        notify_url=notify_url(channel),
        paid_at=payment.paid_at,
        state_path=settings.CHANNEL_SIMULATOR_STATE_FILE,
    )


def refund_pay_out(refund: Refund) -> Refund:
    """Send an approved refund to its channel now, as the ``refunding`` job does, retried as the job is (a job
    that already ran in this process leaves nothing to do). The demo's refunds must be refunded for real."""
    for attempt in range(PAY_OUT_ATTEMPTS):
        try:
            payment_services.refund_execute(refund_id=refund.pk)
        except ChannelTemporaryError:
            if attempt + 1 == PAY_OUT_ATTEMPTS:
                raise
            time.sleep(PAY_OUT_RETRY_SECONDS)
        else:
            break
    refund.refresh_from_db()
    if refund.state != RefundState.REFUNDED:
        raise DemoRefused(f"the channel did not refund {refund.refund_no}: it is {refund.state}")
    return refund


def refund_by_hand(*, order: Order, out_refund_no: str, amount: Decimal, reason: str) -> RefundResult:
    """A refund made in the channel's merchant console, outside the shop: money went back that the shop has no
    refund for. The day's reconciliation finds it on the statement as missing with us."""
    payment = order.payment
    request = RefundRequest(
        out_trade_no=payment.out_trade_no,
        trade_no=payment.trade_no,
        out_refund_no=out_refund_no,
        amount=amount,
        total_amount=payment.amount,
        reason=reason,
    )
    return get_channel(payment.channel).refund(request)


def _answering(url: str) -> bool:
    """A channel simulator answers at ``url``; False when nothing listens there."""
    try:
        response = requests.get(f"{url}/sim/health", timeout=HEALTH_TIMEOUT_SECONDS)
    except requests.ConnectionError:
        return False
    except requests.RequestException as error:
        raise DemoRefused(f"the channel simulator at {url} does not answer: {error}") from error
    if response.status_code != 200:
        raise DemoRefused(f"something other than the channel simulator answers at {url}")
    return True


@contextlib.contextmanager
def simulator_standing_in() -> Iterator[str]:
    """The channel simulator, running while the demo pays and refunds; yields its address. Refused when a
    channel is configured with merchant settings: the demo's made-up payments would go to the real channel."""
    real = [code for code in settings.PAYMENT_CHANNELS if not simulated(code)]
    if real:
        raise DemoRefused(
            "the demo pays and refunds through the channel simulator, but "
            f"{', '.join(sorted(real))} {'is' if len(real) == 1 else 'are'} configured with merchant settings "
            "(ALIPAY_APP_ID / WECHAT_MCH_ID): unset them, with CHANNEL_SIMULATOR_ENABLED=1"
        )
    url = str(settings.CHANNEL_SIMULATOR_URL).rstrip("/")
    if _answering(url):
        yield url
        return
    address = urlsplit(url)
    state = Path(settings.CHANNEL_SIMULATOR_STATE_FILE)
    state.parent.mkdir(parents=True, exist_ok=True)
    try:
        simulator = ChannelSimulator(
            ensure_keys(settings.CHANNEL_SIMULATOR_KEYS_DIR),
            host=address.hostname or "127.0.0.1",
            port=address.port or 80,
            state_path=state,
        )
    except OSError as error:
        raise DemoRefused(f"cannot run the channel simulator at {url}: {error.strerror}") from error
    with simulator:
        yield simulator.url
