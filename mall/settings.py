"""Settings for the fruit mall refund back office.

Everything comes from the environment; every value has an embedded default so that a fresh checkout runs
on SQLite, local files and in-process jobs with nothing configured. Debug is off unless ``DJANGO_DEBUG=1`` (as
``make run`` sets it). Production sets ``DJANGO_SECRET_KEY``, ``ALLOWED_HOSTS``, ``DATABASE_URL`` and ``REDIS_URL``.

One module on purpose, longer than the others: every setting an operator can change is found by reading it top
to bottom, section by section, beside docs/configuration.md.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import dj_database_url
from csp.constants import NONCE, NONE, SELF
from django.utils.translation import gettext_lazy as _

from mall import logging as mall_logging
from mall.secret_key import host_secret_key

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("MALL_VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if not raw:
        return default
    return [part.strip() for part in raw.split(",") if part.strip()]


def env_decimal(name: str, default: str) -> Decimal:
    return Decimal(os.environ.get(name) or default)


def env_int(name: str, default: int) -> int:
    return int(os.environ.get(name) or default)


# Debug pages are something a developer turns on (`make run` does); a process started with nothing set never shows them.
DEBUG = env_bool("DJANGO_DEBUG", False)
# The development key only ever exists in DEBUG mode. Without DJANGO_SECRET_KEY and with debug off, a strong key is
# generated once into the var dir and shared by every process of this host (mall/secret_key.py, with a warning);
# `manage.py check --deploy` still refuses that (mall.W001): each host would sign with a key of its own.
SECRET_KEY_FILE = VAR_DIR / "secret-key"
SECRET_KEY_GENERATED = not DEBUG and not os.environ.get("DJANGO_SECRET_KEY")
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY") or (
    "dev-insecure-key-only-for-local-debug" if DEBUG else host_secret_key(SECRET_KEY_FILE)
)

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI's files, served from this site
    "django_fsm",
    "django_rq",
    "django_prometheus",
    "axes",
    "csp",
    "storages",
    "mall",
    "refunds",
    "notices",
    "payments",
    "logistics",
    "reconciliation",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "mall.logging.RequestLogMiddleware",  # first after the metrics: every line of the request has its id
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # A view that cannot reach the database or Redis answers 503 naming it, never 500.
    "mall.outage.ServiceUnavailableMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
    # Last, as axes asks: it turns a login refused for too many failures into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "mall.urls"
WSGI_APPLICATION = "mall.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------------------
DATABASE_URL = os.environ.get("DATABASE_URL", "")
if DATABASE_URL:
    _db = dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60))
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    _db = {"ENGINE": "django.db.backends.sqlite3", "NAME": str(VAR_DIR / "db.sqlite3")}
if _db["ENGINE"] == "django.db.backends.mysql":
    _db.setdefault("OPTIONS", {})
    _db["OPTIONS"].setdefault("charset", "utf8mb4")
    # READ COMMITTED keeps row locks narrow; the refund rules rely on explicit SELECT ... FOR UPDATE.
    _db["OPTIONS"].setdefault("isolation_level", "read committed")
    _db["TEST"] = {"CHARSET": "utf8mb4", "COLLATION": "utf8mb4_unicode_ci"}
elif _db["ENGINE"] == "django.db.backends.sqlite3":
    _db.setdefault("OPTIONS", {})
    # Immediate transactions make SQLite serialise writers instead of failing with "database is locked".
    _db["OPTIONS"].setdefault("transaction_mode", "IMMEDIATE")
    _db["OPTIONS"].setdefault("timeout", 20)
DATABASES = {"default": _db}
# Debug, or the embedded database (nothing configured): the bundled simulators with their development secret and
# mail to the console are the defaults. A configured database with debug off is production and gets none of them.
DEVELOPMENT_DEFAULTS = DEBUG or not DATABASE_URL
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: cache, locks, job queues --------------------------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")


def redis_cache(url: str) -> dict[str, object]:
    return {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": url,
        "OPTIONS": {
            "CLIENT_CLASS": "django_redis.client.DefaultClient",
            # A cache that does not answer is a miss, not a 500: without Redis the database holds the line. Locks
            # (refunds/locks.py) and the application throttle use the connection directly and decide for
            # themselves what an outage means.
            "IGNORE_EXCEPTIONS": True,
            # Fail within a second when Redis is down or hangs, instead of holding the request.
            "SOCKET_CONNECT_TIMEOUT": 1,
            "SOCKET_TIMEOUT": 2,
        },
        "KEY_PREFIX": os.environ.get("CACHE_KEY_PREFIX", "mall"),
    }


DJANGO_REDIS_LOG_IGNORED_EXCEPTIONS = True
if REDIS_URL:
    CACHES = {"default": redis_cache(REDIS_URL)}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Queue names are part of the worker's command line (Procfile); keep the two in step.
JOB_QUEUES = ("default", "refunds", "notifications", "stock", "reconciliation")


def redis_with_timeouts(url: str) -> str:
    """``url`` with a connect and a read timeout unless it sets its own: a Redis host that does not answer (down
    behind a firewall, or hung) fails a job's hand-over within seconds instead of holding the request, and the
    re-dispatch sweeps find the work again. RQ's worker raises the read timeout above its blocking dequeue."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query.setdefault("socket_connect_timeout", os.environ.get("REDIS_CONNECT_TIMEOUT", "2"))
    query.setdefault("socket_timeout", os.environ.get("REDIS_TIMEOUT", "5"))
    return urlunsplit(parts._replace(query=urlencode(query)))


RQ_URL = redis_with_timeouts(REDIS_URL or "redis://127.0.0.1:6379/0")
RQ_QUEUES = {name: {"URL": RQ_URL, "DEFAULT_TIMEOUT": 300} for name in JOB_QUEUES}
# mall.jobs already hands jobs over after commit (and catches a failed hand-over), so django-rq enqueues at once.
RQ = {"COMMIT_MODE": "auto"}
# django-rq's own admin entry would let every staff member into the queues; mall.rq_dashboard mounts them guarded.
RQ_SHOW_ADMIN_LINK = False
# A monitoring system holding this token reads the queues' statistics (stats.json, metrics) without a login.
RQ_API_TOKEN = os.environ.get("RQ_API_TOKEN", "")
# Without Redis, jobs run in this process right after the transaction that scheduled them commits.
JOBS_IN_PROCESS = not REDIS_URL

# --- Auth and passwords ---------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "admin:login"
# Axes first: it refuses a locked-out username and address before any password is checked.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]

# --- Failed logins (django-axes) ------------------------------------------------------------------------
# After LOGIN_FAILURE_LIMIT wrong passwords for one username from one address, that pair is refused (even with the
# right password) until LOGIN_COOLOFF_MINUTES pass without another try, or someone unlocks it: the console's
# "access attempts" list (superusers, operations, cs_supervisor) or `manage.py axes_reset_username`. Another
# address can still log in as that user. API tokens never pass through axes.
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_COOLOFF_MINUTES", 30))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_ENABLE_ACCESS_FAILURE_LOG = True
AXES_LOCKOUT_CALLABLE = "mall.login_lockout.lockout_response"
AXES_ENABLE_ADMIN = False  # mall.login_lockout registers the lists
# The client address is REMOTE_ADDR, unless TRUSTED_PROXY_COUNT reverse proxies stand in front (and the site is
# reachable only through them), each appending the address it saw to X-Forwarded-For: the client is then the
# TRUSTED_PROXY_COUNT-th entry from the right, whatever a client wrote before it. ipware counts the proxies listed
# after the client (one fewer), and not strictly, so a header a client started itself still yields that entry.
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0)
if TRUSTED_PROXY_COUNT > 0:
    AXES_IPWARE_META_PRECEDENCE_ORDER = ["HTTP_X_FORWARDED_FOR", "REMOTE_ADDR"]
    AXES_IPWARE_PROXY_COUNT = TRUSTED_PROXY_COUNT - 1
    IPWARE_STRICT = False
else:
    AXES_IPWARE_META_PRECEDENCE_ORDER = ["REMOTE_ADDR"]

# --- Content-Security-Policy (django-csp) ---------------------------------------------------------------
# Everything comes from this site (nothing from a CDN); a script or <style> element runs only with the nonce
# its response carries (templates: {{ request.csp_nonce }}).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, NONCE],
        "img-src": [SELF, "data:"],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}

# --- Language, time, money ------------------------------------------------------------------------------
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", _("Simplified Chinese")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
# Staff switch languages in the console's header (Django's set_language view, /i18n/setlang/); the choice is kept
# in this cookie for a year and read by LocaleMiddleware before the browser's Accept-Language.
LANGUAGE_COOKIE_AGE = 365 * 24 * 3600
LANGUAGE_COOKIE_HTTPONLY = True
LANGUAGE_COOKIE_SAMESITE = "Lax"
# One way of writing dates and times in both languages (2026-12-05 14:30): mall/formats.
FORMAT_MODULE_PATH = ["mall.formats"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

# --- Static and uploaded files --------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", VAR_DIR / "staticfiles"))
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "media/"
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", VAR_DIR / "media"))

STORAGE_BACKEND = os.environ.get("STORAGE_BACKEND", "local").lower()
if STORAGE_BACKEND == "s3":
    _default_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": os.environ.get("S3_BUCKET", "mall"),
            "endpoint_url": os.environ.get("S3_ENDPOINT_URL") or None,
            "access_key": os.environ.get("S3_ACCESS_KEY_ID") or None,
            "secret_key": os.environ.get("S3_SECRET_ACCESS_KEY") or None,
            "region_name": os.environ.get("S3_REGION", "us-east-1"),
            "addressing_style": "path",
            "signature_version": "s3v4",
            "file_overwrite": False,
            "default_acl": None,
            "querystring_auth": True,
            "querystring_expire": env_int("S3_SIGNED_URL_SECONDS", 300),
        },
    }
else:
    _default_storage = {"BACKEND": "django.core.files.storage.FileSystemStorage"}
STORAGES = {
    "default": _default_storage,
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# --- REST API -------------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "mall.api_common.Pagination",
    "PAGE_SIZE": 20,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "mall.api_common.exception_handler",
    # DRF's own three, with JSON nested deeper than mall.json_limits.MAX_JSON_DEPTH refused before it is decoded.
    "DEFAULT_PARSER_CLASSES": [
        "mall.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "COERCE_DECIMAL_TO_STRING": True,
    "DEFAULT_THROTTLE_RATES": {"refund_apply": os.environ.get("REFUND_APPLY_THROTTLE", "30/min")},
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Fruit mall refunds API",
    "DESCRIPTION": "Customer-facing orders and refunds of the fruit mall.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # /api/docs/ loads Swagger UI from this site's static files, never from a CDN (the CSP allows only 'self').
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    # No validator badge: it would fetch from validator.swagger.io.
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    "ENUM_NAME_OVERRIDES": {"NotificationEventEnum": "notices.catalogue.MessageEvent"},
}

# --- Refund policy (configuration, not code) ------------------------------------------------------------
REFUND_AUTO_APPROVE_HOURS = env_int("REFUND_AUTO_APPROVE_HOURS", 2)
REFUND_MAX_AMOUNT = env_decimal("REFUND_MAX_AMOUNT", "5000")
REFUND_AFTER_SALE_DAYS = env_int("REFUND_AFTER_SALE_DAYS", 7)
REFUND_COMPENSATION_CAP = env_decimal("REFUND_COMPENSATION_CAP", "200")
REFUND_COMPENSATION_DAILY_CAP = env_decimal("REFUND_COMPENSATION_DAILY_CAP", "1000")
REFUND_CHANNEL_MAX_ATTEMPTS = env_int("REFUND_CHANNEL_MAX_ATTEMPTS", 3)
SHIPPING_TIMEOUT_HOURS = env_int("SHIPPING_TIMEOUT_HOURS", 48)
PRICE_ANOMALY_RATIO = env_decimal("PRICE_ANOMALY_RATIO", "0.5")
PRICE_ANOMALY_AUTO_APPROVE = env_bool("PRICE_ANOMALY_AUTO_APPROVE", False)
REFUND_POLICY_ROLLOUT_PERCENT = env_int("REFUND_POLICY_ROLLOUT_PERCENT", 0)
# Automatic approval of refunds nobody reviewed within REFUND_AUTO_APPROVE_HOURS (refunds/auto_approval.py).
REFUND_AUTO_APPROVE_MAX_AMOUNT = env_decimal("REFUND_AUTO_APPROVE_MAX_AMOUNT", "500")
REFUND_AUTO_APPROVE_REASONS = env_list(
    "REFUND_AUTO_APPROVE_REASONS", ["not_shipped", "not_received", "quality_issue", "shipping_timeout", "out_of_stock"]
)
# The abuse rule (refund policy v2, switched on per customer by REFUND_POLICY_ROLLOUT_PERCENT): a customer whose
# refunds over the window, divided by their paid orders (at least REFUND_ABUSE_MIN_ORDERS), exceed the rate.
REFUND_ABUSE_RATE = env_decimal("REFUND_ABUSE_RATE", "0.5")
REFUND_ABUSE_MIN_ORDERS = env_int("REFUND_ABUSE_MIN_ORDERS", 3)
REFUND_ABUSE_WINDOW_DAYS = env_int("REFUND_ABUSE_WINDOW_DAYS", 90)
# Paid prices are compared with the catalogue for orders paid within this many hours (a catalogue price changed
# later for good reason must not turn old orders into anomalies).
PRICE_ANOMALY_LOOKBACK_HOURS = env_int("PRICE_ANOMALY_LOOKBACK_HOURS", 72)
# Rows the periodic sweeps read per query (keyset pages).
SWEEP_BATCH_SIZE = env_int("SWEEP_BATCH_SIZE", 500)
# Customer messages (notices): each email is tried at most this many times, waiting NOTIFICATION_RETRY_SECONDS
# before the second try and twice as long before each next one; then it is recorded as undeliverable.
NOTIFICATION_MAX_ATTEMPTS = env_int("NOTIFICATION_MAX_ATTEMPTS", 3)
NOTIFICATION_RETRY_SECONDS = env_int("NOTIFICATION_RETRY_SECONDS", 60)
# The shop's address as customers reach it: links in the messages they are sent (their refund voucher).
SHOP_URL = os.environ.get("SHOP_URL") or "http://127.0.0.1:8000"

# --- Mail (customer notifications) ---------------------------------------------------------------------
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND") or (
    "django.core.mail.backends.console.EmailBackend"
    if DEVELOPMENT_DEFAULTS
    else "django.core.mail.backends.smtp.EmailBackend"
)
EMAIL_HOST = os.environ.get("EMAIL_HOST") or "localhost"
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL") or "水果商城 <noreply@fruit-mall.example>"

# --- Logging --------------------------------------------------------------------------------------------
# One line per record on stderr for every process (web, worker, scheduler): JSON in production, readable text in
# development; LOG_FORMAT=json|console overrides. mall.logging adds the request id, job and refund number and masks
# secrets; mall.logging.RequestLogMiddleware writes each request's one access line.
LOG_FORMAT = os.environ.get("LOG_FORMAT") or ("console" if DEBUG else "json")
if LOG_FORMAT not in ("json", "console"):
    raise RuntimeError(f"LOG_FORMAT must be json or console, not {LOG_FORMAT!r}")
LOGGING = mall_logging.logging_config(json=LOG_FORMAT == "json", level=os.environ.get("LOG_LEVEL", "INFO"))
LOGGING_CONFIG = "mall.logging.configure"

# --- Production hardening (manage.py check --deploy) ----------------------------------------------------
if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$", r"^payments/notify/"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    LANGUAGE_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_CONTENT_TYPE_NOSNIFF = True
    X_FRAME_OPTIONS = "DENY"

# --- Payment channels -----------------------------------------------------------------------------------
# Secrets come from the environment, inline or as a file named by NAME_FILE; never from the repository.
# PAYMENT_CHANNELS, at the end of this section, is what the adapters are built from.
ALIPAY_APP_ID = os.environ.get("ALIPAY_APP_ID", "")
ALIPAY_PRIVATE_KEY = os.environ.get("ALIPAY_PRIVATE_KEY", "")
ALIPAY_PRIVATE_KEY_FILE = os.environ.get("ALIPAY_PRIVATE_KEY_FILE", "")
ALIPAY_PUBLIC_KEY = os.environ.get("ALIPAY_PUBLIC_KEY", "")
ALIPAY_PUBLIC_KEY_FILE = os.environ.get("ALIPAY_PUBLIC_KEY_FILE", "")
ALIPAY_GATEWAY = os.environ.get("ALIPAY_GATEWAY", "")  # empty: https://openapi.alipay.com/gateway.do
WECHAT_MCH_ID = os.environ.get("WECHAT_MCH_ID", "")
WECHAT_APP_ID = os.environ.get("WECHAT_APP_ID", "")
WECHAT_API_V3_KEY = os.environ.get("WECHAT_API_V3_KEY", "")
WECHAT_API_V3_KEY_FILE = os.environ.get("WECHAT_API_V3_KEY_FILE", "")
WECHAT_CERT_SERIAL_NO = os.environ.get("WECHAT_CERT_SERIAL_NO", "")
WECHAT_PRIVATE_KEY = os.environ.get("WECHAT_PRIVATE_KEY", "")
WECHAT_PRIVATE_KEY_FILE = os.environ.get("WECHAT_PRIVATE_KEY_FILE", "")
WECHAT_PUBLIC_KEY = os.environ.get("WECHAT_PUBLIC_KEY", "")
WECHAT_PUBLIC_KEY_FILE = os.environ.get("WECHAT_PUBLIC_KEY_FILE", "")
WECHAT_PUBLIC_KEY_ID = os.environ.get("WECHAT_PUBLIC_KEY_ID", "")
WECHAT_GATEWAY = os.environ.get("WECHAT_GATEWAY", "")  # empty: https://api.mch.weixin.qq.com
PAYMENTS_NOTIFY_BASE_URL = os.environ.get("PAYMENTS_NOTIFY_BASE_URL") or "http://127.0.0.1:8000"
CHANNEL_TIMEOUT_SECONDS = float(os.environ.get("CHANNEL_TIMEOUT_SECONDS") or 10)
CHANNEL_STATEMENT_TIMEOUT_SECONDS = float(os.environ.get("CHANNEL_STATEMENT_TIMEOUT_SECONDS") or 120)
CHANNEL_SIMULATOR_ENABLED = env_bool("CHANNEL_SIMULATOR_ENABLED", DEVELOPMENT_DEFAULTS)
CHANNEL_SIMULATOR_URL = os.environ.get("CHANNEL_SIMULATOR_URL") or "http://127.0.0.1:8765"
CHANNEL_SIMULATOR_KEYS_DIR = Path(os.environ.get("CHANNEL_SIMULATOR_KEYS_DIR") or VAR_DIR / "channel-keys")
# The ledger file the Procfiles start the simulator with: demo data made while it is not running goes there.
CHANNEL_SIMULATOR_STATE_FILE = Path(
    os.environ.get("CHANNEL_SIMULATOR_STATE_FILE") or VAR_DIR / "channel-simulator.json"
)
# The settings above that PAYMENT_CHANNELS is made from.
PAYMENT_CHANNELS_INPUTS = (
    "ALIPAY_APP_ID",
    "ALIPAY_GATEWAY",
    "ALIPAY_PRIVATE_KEY",
    "ALIPAY_PRIVATE_KEY_FILE",
    "ALIPAY_PUBLIC_KEY",
    "ALIPAY_PUBLIC_KEY_FILE",
    "WECHAT_MCH_ID",
    "WECHAT_APP_ID",
    "WECHAT_CERT_SERIAL_NO",
    "WECHAT_PUBLIC_KEY_ID",
    "WECHAT_GATEWAY",
    "WECHAT_PRIVATE_KEY",
    "WECHAT_PRIVATE_KEY_FILE",
    "WECHAT_PUBLIC_KEY",
    "WECHAT_PUBLIC_KEY_FILE",
    "WECHAT_API_V3_KEY",
    "WECHAT_API_V3_KEY_FILE",
    "CHANNEL_SIMULATOR_ENABLED",
    "CHANNEL_SIMULATOR_URL",
    "CHANNEL_SIMULATOR_KEYS_DIR",
)


def payment_channels(setting: Callable[[str], Any]) -> dict[str, dict[str, Any]]:
    """The channels' variants table (django-payments' PAYMENT_VARIANTS): code → adapter class and its options.

    Options are named as their settings without the channel's prefix (``ALIPAY_APP_ID`` → ``app_id``); a secret
    comes inline or from the file its ``_file`` option names. A channel without its merchant id gets the
    simulator's gateway and the demo keys of CHANNEL_SIMULATOR_KEYS_DIR (``demo_keys``, generated on first use)
    while CHANNEL_SIMULATOR_ENABLED; otherwise it stays incomplete, and building its adapter fails loudly instead
    of refunding into a simulator."""

    def text(name: str) -> str:
        return str(setting(name) or "")

    def options(prefix: str, names: tuple[str, ...], secrets: tuple[str, ...]) -> dict[str, str]:
        found = {name.lower(): text(f"{prefix}_{name}") for name in names}
        for name in secrets:
            found |= {name.lower(): text(f"{prefix}_{name}"), f"{name.lower()}_file": text(f"{prefix}_{name}_FILE")}
        return found

    simulator = text("CHANNEL_SIMULATOR_URL").rstrip("/")
    demo_keys = {"demo_keys": text("CHANNEL_SIMULATOR_KEYS_DIR")}
    if text("ALIPAY_APP_ID") or not setting("CHANNEL_SIMULATOR_ENABLED"):
        alipay = options("ALIPAY", ("APP_ID",), ("PRIVATE_KEY", "PUBLIC_KEY"))
        alipay["gateway"] = text("ALIPAY_GATEWAY") or "https://openapi.alipay.com/gateway.do"
    else:
        alipay = {"gateway": f"{simulator}/gateway.do", **demo_keys}
    if text("WECHAT_MCH_ID") or not setting("CHANNEL_SIMULATOR_ENABLED"):
        wechat = options(
            "WECHAT",
            ("MCH_ID", "APP_ID", "CERT_SERIAL_NO", "PUBLIC_KEY_ID"),
            ("PRIVATE_KEY", "PUBLIC_KEY", "API_V3_KEY"),
        )
        wechat["gateway"] = text("WECHAT_GATEWAY") or "https://api.mch.weixin.qq.com"
    else:
        wechat = {"gateway": simulator, **demo_keys}
    return {
        "alipay": {"ADAPTER": "payments.channels.alipay.AlipayChannel", "OPTIONS": alipay},
        "wechat": {"ADAPTER": "payments.channels.wechat.WechatChannel", "OPTIONS": wechat},
    }


PAYMENT_CHANNELS = payment_channels(lambda name: globals()[name])
# --- end of payment channels ----------------------------------------------------------------------------

# --- Logistics ------------------------------------------------------------------------------------------
# The carrier API (the bundled carrier simulator unless pointed elsewhere) and the secret it signs with, both
# ways. Only development (DEVELOPMENT_DEFAULTS) has a development secret; without one in production every carrier
# notification is refused.
CARRIER_SIMULATOR_URL = os.environ.get("CARRIER_SIMULATOR_URL") or "http://127.0.0.1:8766"
CARRIER_NOTIFY_SECRET = os.environ.get("CARRIER_NOTIFY_SECRET") or (
    "dev-carrier-secret-only-for-local-debug" if DEVELOPMENT_DEFAULTS else ""
)
CARRIER_TIMEOUT_SECONDS = float(os.environ.get("CARRIER_TIMEOUT_SECONDS") or 10)
# Where the carrier posts its notifications: this site's base URL as the carrier reaches it.
LOGISTICS_NOTIFY_BASE_URL = os.environ.get("LOGISTICS_NOTIFY_BASE_URL") or "http://127.0.0.1:8000"
# An interception the carrier has not answered within this time counts as failed.
INTERCEPTION_TIMEOUT_MINUTES = env_int("INTERCEPTION_TIMEOUT_MINUTES", 30)
# A cut of the refund after inspection above this share of it needs a supervisor.
REFUND_INSPECTION_CUT_SUPERVISOR_SHARE = env_decimal("REFUND_INSPECTION_CUT_SUPERVISOR_SHARE", "0.3")
if not DEBUG:
    SECURE_REDIRECT_EXEMPT = [*SECURE_REDIRECT_EXEMPT, r"^logistics/notify/"]
# --- end of logistics -----------------------------------------------------------------------------------

# --- Reconciliation -------------------------------------------------------------------------------------
# Channels whose daily statements the scheduler reconciles (the day before, early in the Shanghai morning).
RECONCILIATION_CHANNELS = env_list("RECONCILIATION_CHANNELS", ["alipay", "wechat"])
# A run that has not made progress for this long was killed: the next run of that day replaces it.
RECONCILIATION_STALE_MINUTES = env_int("RECONCILIATION_STALE_MINUTES", 30)
# Days before yesterday that the daily job looks back over for runs that failed or were killed.
RECONCILIATION_CATCH_UP_DAYS = env_int("RECONCILIATION_CATCH_UP_DAYS", 3)
# Time limit of one channel's day on a worker: a statement of a million lines takes minutes.
RECONCILIATION_JOB_TIMEOUT_SECONDS = env_int("RECONCILIATION_JOB_TIMEOUT_SECONDS", 3600)
# --- end of reconciliation ------------------------------------------------------------------------------
