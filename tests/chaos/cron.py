"""The scheduler's configuration in the chaos tests (``manage.py run_scheduler tests.chaos.cron``): the re-dispatch
sweep every 2 seconds instead of every 2 minutes, so that the scheduler talks to Redis all through an outage."""

from rq import cron

from payments.jobs import sweep_refunding

cron.register(sweep_refunding, queue_name="refunds", interval=2, name="chaos.sweep_refunding")
