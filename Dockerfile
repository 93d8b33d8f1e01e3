# syntax=docker/dockerfile:1
# The fruit mall refund back office: one image for every process in the Procfile (web, worker, scheduler).
#   docker build -t fruit-mall:<release> .
# The builder compiles wheels (mysqlclient needs a C toolchain and the MariaDB client headers); the runtime
# stage installs those wheels with only the MariaDB client library beside them and runs as a non-root user.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential pkg-config libmariadb-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /build
COPY requirements.txt .
RUN pip wheel --wheel-dir /wheels -r requirements.txt


FROM ${PYTHON_IMAGE} AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    DJANGO_SETTINGS_MODULE=mall.settings \
    DJANGO_DEBUG=0 \
    PORT=8000 \
    MALL_VAR_DIR=/app/var \
    STATIC_ROOT=/app/staticfiles
RUN apt-get update \
    && apt-get install -y --no-install-recommends libmariadb3 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 mall \
    && useradd --system --uid 10001 --gid mall --home-dir /app --no-create-home --shell /usr/sbin/nologin mall
WORKDIR /app
COPY requirements.txt .
# The wheels are mounted from the builder, so they never become a layer of this image.
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    pip install --no-index --find-links=/wheels -r requirements.txt
COPY . .
# Static files are collected into the image (whitenoise serves them, with hashed names). Without a secret key the
# settings would generate one into var/ and so into the image; this one exists only for this build step.
RUN DJANGO_SECRET_KEY=collectstatic-at-build-time-only DATABASE_URL= REDIS_URL= \
    python manage.py collectstatic --no-input -v0 \
    && mkdir -p /app/var/prometheus \
    && chown -R mall:mall /app/var
USER mall:mall
EXPOSE 8000

# Liveness only: /healthz answers while the process is up. The Host header is the first of ALLOWED_HOSTS, so the
# probe is not refused as a disallowed host; /healthz is exempt from the HTTPS redirect.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; host = (os.environ.get('ALLOWED_HOSTS') or 'localhost').split(',')[0].strip().lstrip('.'); host = 'localhost' if host in ('', '*') else host; request = urllib.request.Request('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '8000'), headers={'Host': host}); urllib.request.urlopen(request, timeout=4)"]

# The web line of the Procfile; compose runs the worker and scheduler lines with the same image.
CMD ["/bin/sh", "-c", "exec gunicorn mall.wsgi --bind 0.0.0.0:${PORT:-8000} --workers ${WEB_CONCURRENCY:-3} --config deploy/gunicorn.conf.py"]
