"""Periodic jobs, registered with rq's cron scheduler (``manage.py run_scheduler mall.cron``; run exactly one).

Each app declares its periodic jobs in its ``jobs.py`` with ``periodic_job_register``; rq 2.x reads cron
strings in UTC, so each declaration states the Asia/Shanghai time it means.
"""

from django.utils.module_loading import autodiscover_modules
from rq import cron

from mall.jobs import PERIODIC_JOBS

autodiscover_modules("jobs")

for job in PERIODIC_JOBS:
    cron.register(
        job.func, queue_name=job.queue, kwargs=job.kwargs, cron=job.cron, interval=job.interval, name=job.name
    )
