import os

from mall.metrics_dir import use_host_directory

# Before Django loads django-prometheus: prometheus_client picks multiprocess mode when it is first imported.
use_host_directory()

from django.core.wsgi import get_wsgi_application  # noqa: E402

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mall.settings")
application = get_wsgi_application()
