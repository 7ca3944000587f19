"""PROST-QS settings, 12-factor style: every deployment knob comes from the environment.

The embedded default (no environment at all apart from ``DEBUG=true``) runs on a SQLite file in the
project with Celery tasks executed eagerly, so a newcomer needs neither PostgreSQL nor Redis.
"""
from __future__ import annotations

from pathlib import Path

import environ
from csp.constants import NONE, SELF, UNSAFE_INLINE
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)


def _development_secret_key() -> str:
    """A random key kept in var/ so that development sessions survive restarts; never used in production."""
    path = BASE_DIR / "var" / "dev-secret-key"
    if not path.exists():
        import secrets

        path.parent.mkdir(exist_ok=True)
        path.write_text("insecure-dev-" + secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


# Production refuses to start without a real secret: no default, no well-known value, no short key.
SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    SECRET_KEY = _development_secret_key()
elif not DEBUG and (SECRET_KEY.startswith("insecure") or len(set(SECRET_KEY)) < 5 or len(SECRET_KEY) < 50):
    raise ImproperlyConfigured("SECRET_KEY is not a real secret: use at least 50 random characters.")

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "console.site.ConsoleAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "simple_history",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "csp",
    # Our apps, lowest layer first (see docs/code-layout.md, "Layers").
    "audit",
    "infrastructure",
    "identity",
    "governance",
    "memory",
    "billing",
    "ads",
    "agents",
    # The console over every app (dashboard, inbox, kill switches, integrity, roles), then the composition root.
    "console",
    "prostqs",
]
# Development and test tooling (devtools/: the workload, the API fuzzer, the demo's wiring): installed with DEBUG on,
# or in a tool's own process that sets DEVTOOLS=true (tools/prod_run.py runs its workload and fuzzer so). A process
# that serves production never sets it (check --deploy warns, devtools.W001).
DEVTOOLS = env.bool("DEVTOOLS", default=DEBUG)
if DEVTOOLS:
    INSTALLED_APPS.append("devtools")

# The Console* classes are Django's and django-otp's own, skipped for requests under /api/ (prostqs/middleware.py).
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "prostqs.middleware.ContentSecurityPolicyMiddleware",
    "prostqs.middleware.ApiErrorMiddleware",
    "prostqs.middleware.ConsoleSessionMiddleware",
    "prostqs.middleware.ConsoleLocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "prostqs.middleware.ConsoleAuthenticationMiddleware",
    "prostqs.middleware.ConsoleOTPMiddleware",
    "audit.context.AuditContextMiddleware",
    "prostqs.middleware.ConsoleMessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
]

ROOT_URLCONF = "prostqs.urls"
WSGI_APPLICATION = "prostqs.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        # templates/: the project-wide overrides (the console's base page, the confirmation page of admin actions),
        # found before the apps' own templates.
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
            ],
        },
    },
]

# Database: DATABASE_URL, else a SQLite file inside the project (the embedded default).
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL and a busy timeout let the web server and the job runner share the file.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"}
    )
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DB_CONN_MAX_AGE", default=60))
    DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        # Django's backend with a health check that looks at the socket instead of a SELECT 1 round trip.
        DATABASES["default"]["ENGINE"] = "core.backends.postgresql"
# PostgreSQL binds parameters on the server (Django's documented ``server_side_binding``), so psycopg can prepare
# statements: any statement a connection runs ``prepare_threshold`` times is prepared there and planned once (the app
# credential lookup, the ledger posting, audit staging). DB_PREPARED_STATEMENTS=false (behind a pooler in transaction
# mode, which cannot carry a prepared statement from one transaction to the next) keeps server-side binding and
# prepares nothing (psycopg's prepare_threshold None, Django's default).
DB_PREPARED_STATEMENTS = env.bool("DB_PREPARED_STATEMENTS", default=True)
if DATABASES["default"]["ENGINE"] == "core.backends.postgresql":
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("server_side_binding", True)
    if DB_PREPARED_STATEMENTS:
        DATABASES["default"]["OPTIONS"].setdefault("prepare_threshold", 5)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "identity.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Internationalisation: the console follows the browser's language (LocaleMiddleware).
LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("pt-br", _("Brazilian Portuguese"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
TIME_ZONE = "UTC"
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "staticfiles")

# Redis is optional. Without it Celery runs tasks eagerly in-process and nothing needs a broker.
REDIS_URL = env.str("REDIS_URL", default="")

CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BEAT_SCHEDULE: dict = {}
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_TASK_ALWAYS_EAGER = False
else:
    CELERY_BROKER_URL = "memory://"
    CELERY_TASK_ALWAYS_EAGER = True
    CELERY_TASK_EAGER_PROPAGATES = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True

# Jobs, secrets and kill switches (infrastructure app; see docs/domains/infrastructure.md).
# The jobs table is the durable queue; Celery only carries "go and claim" messages, so its delivery settings are
# chosen for at-least-once: a task is acknowledged after it ran, re-queued when its worker dies, and the broker's
# visibility timeout outlasts every lease and every dispatch run (else Redis would hand a live task to a second
# worker).
JOBS_LEASE_SECONDS = env.float("JOBS_LEASE_SECONDS", default=60.0)
JOBS_BATCH_SIZE = env.int("JOBS_BATCH_SIZE", default=10)
JOBS_POLL_SECONDS = env.float("JOBS_POLL_SECONDS", default=0.5)
JOBS_RETRY_BASE_SECONDS = env.float("JOBS_RETRY_BASE_SECONDS", default=5.0)
JOBS_RETRY_MAX_SECONDS = env.float("JOBS_RETRY_MAX_SECONDS", default=3600.0)
JOBS_REAP_SECONDS = env.float("JOBS_REAP_SECONDS", default=15.0)
JOBS_DISPATCH_SECONDS = env.float("JOBS_DISPATCH_SECONDS", default=25.0)
JOBS_GROUP_COMMIT_SECONDS = env.float("JOBS_GROUP_COMMIT_SECONDS", default=0.05)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600)}
CELERY_BEAT_SCHEDULE.update({
    "infrastructure.jobs_dispatch": {"task": "infrastructure.jobs_dispatch", "schedule": 1.0,
                                     "options": {"expires": 5}},
    "infrastructure.jobs_reap": {"task": "infrastructure.jobs_reap", "schedule": JOBS_REAP_SECONDS,
                                 "options": {"expires": JOBS_REAP_SECONDS}},
    "infrastructure.killswitches_expire": {"task": "infrastructure.killswitches_expire", "schedule": 5.0,
                                           "options": {"expires": 5}},
})
# Every process re-reads the kill switches at most this often: an activation is seen everywhere within it.
KILLSWITCH_CACHE_SECONDS = env.float("KILLSWITCH_CACHE_SECONDS", default=0.5)


def _development_master_key() -> str:
    """A random AES-256 master key kept in var/ so that the demo's secrets survive restarts (DEBUG only)."""
    import base64
    import os
    import tempfile

    path = BASE_DIR / "var" / "dev-secrets-master-key"
    if not path.exists():
        path.parent.mkdir(exist_ok=True)
        # Written aside and linked into place: concurrent first starts (web and job runner) agree on one key.
        with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False) as fh:
            fh.write("dev:" + base64.b64encode(os.urandom(32)).decode())
        os.chmod(fh.name, 0o600)
        try:
            os.link(fh.name, path)
        except FileExistsError:
            pass
        finally:
            os.unlink(fh.name)
    return path.read_text().strip()


# Secrets: AES-256-GCM master keys as a keyring, newest first: "k2:<base64 32 bytes>,k1:<base64 32 bytes>".
SECRETS_MASTER_KEYS = env.str("SECRETS_MASTER_KEYS", default="")
if not SECRETS_MASTER_KEYS:
    if not DEBUG:
        raise ImproperlyConfigured("SECRETS_MASTER_KEYS must be set when DEBUG is off (see docs/configuration.md).")
    SECRETS_MASTER_KEYS = _development_master_key()
SECRETS_ENVIRONMENT = env.str("SECRETS_ENVIRONMENT", default="development" if DEBUG else "production")

REST_FRAMEWORK = {
    # App credentials (HTTP Basic pq_pk_…:pq_sk_…) first, so that a missing credential answers 401 with its
    # challenge; then signed-in users' session tokens (Bearer).
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "identity.authentication.AppCredentialAuthentication",
        "identity.authentication.SessionTokenAuthentication",
    ],
    # Deny by default: every endpoint states who may call it.
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["core.api.JSONParser"],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "core.api.ContentNegotiation",
    "DEFAULT_PAGINATION_CLASS": "core.api.Pagination",
    "PAGE_SIZE": 50,
    # Throttling is off: OTP limits are counted in the database (rate_limit_entries), not in a cache.
    "DEFAULT_THROTTLE_CLASSES": [],
    "EXCEPTION_HANDLER": "core.api.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": None,
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "PROST-QS API",
    "DESCRIPTION": "Governance control plane for software that moves money and for the AI agents that act on it.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "core.schema.add_common_errors"],
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    # Served from our own static files: the docs work without reaching the internet.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "ApplicationStatusEnum": "identity.models.Application.Status",
        "AppCredentialStatusEnum": "identity.models.AppCredential.Status",
        "AppUserStatusEnum": "identity.models.AppUser.Status",
    "OtpChannelEnum": "identity.models.PendingVerification.Channel",  # OTP start and app-user proofs
        "ApprovalStatusEnum": "governance.models.ApprovalRequest.Status",
        "ImpactEnum": "governance.models.Impact",
        "LifecycleStateEnum": "memory.models.LifecycleState",
        "ConflictStateEnum": "memory.models.ConflictState",
    },
}

# Audit: chain staged events right after each commit (cheap when another sequencer already runs; the
# periodic sequencer is the safety net).
AUDIT_SEQUENCE_ON_COMMIT = env.bool("AUDIT_SEQUENCE_ON_COMMIT", default=True)
AUDIT_SEQUENCE_INTERVAL = env.float("AUDIT_SEQUENCE_INTERVAL", default=5.0)
# Signed checkpoints of the chain head: Ed25519 key (32 random bytes, base64) from the environment only; without
# it production refuses to sign, DEBUG generates one into var/. Earlier or verify-only public keys: comma-separated.
AUDIT_CHECKPOINT_KEY = env.str("AUDIT_CHECKPOINT_KEY", default="")
AUDIT_CHECKPOINT_PUBLIC_KEYS = env.list("AUDIT_CHECKPOINT_PUBLIC_KEYS", default=[])
AUDIT_CHECKPOINT_DIR = Path(env.str("AUDIT_CHECKPOINT_DIR", default=str(BASE_DIR / "var" / "audit-checkpoints")))
AUDIT_CHECKPOINT_INTERVAL = env.float("AUDIT_CHECKPOINT_INTERVAL", default=3600.0)
CELERY_BEAT_SCHEDULE["audit-sequence"] = {"task": "audit.sequence", "schedule": AUDIT_SEQUENCE_INTERVAL}
CELERY_BEAT_SCHEDULE["audit-checkpoint"] = {"task": "audit.checkpoint", "schedule": AUDIT_CHECKPOINT_INTERVAL}

# Identity and applications (docs/domains/identity.md).
# Key of the keyed hashes of OTP codes, session tokens and app secrets; derived from SECRET_KEY when empty (set it
# so that SECRET_KEY can be rotated without signing everyone out and invalidating every app credential).
IDENTITY_HASH_KEY = env.str("IDENTITY_HASH_KEY", default="")
OTP_CODE_TTL_SECONDS = env.int("OTP_CODE_TTL_SECONDS", default=300)
if not 1 <= OTP_CODE_TTL_SECONDS <= 600:
    raise ImproperlyConfigured("OTP_CODE_TTL_SECONDS must be between 1 and 600 (a code lives at most 10 minutes).")
OTP_MAX_ATTEMPTS = env.int("OTP_MAX_ATTEMPTS", default=5)
OTP_SEND_WINDOW_SECONDS = env.int("OTP_SEND_WINDOW_SECONDS", default=3600)
OTP_SEND_LIMIT_PER_PHONE = env.int("OTP_SEND_LIMIT_PER_PHONE", default=5)
OTP_SEND_LIMIT_PER_IP = env.int("OTP_SEND_LIMIT_PER_IP", default=20)
OTP_SEND_LIMIT_PER_PREFIX = env.int("OTP_SEND_LIMIT_PER_PREFIX", default=30)
# Codes one application may have sent to its users (proofs of their links) per window, against SMS pumping.
OTP_SEND_LIMIT_PER_APP = env.int("OTP_SEND_LIMIT_PER_APP", default=1000)
OTP_FAILURE_BLOCK_THRESHOLD = env.int("OTP_FAILURE_BLOCK_THRESHOLD", default=100)
# console | file | http, or the dotted path of a sender class.
OTP_SENDER = env.str("OTP_SENDER", default="console" if DEBUG else "http")
OTP_FILE_PATH = env.path("OTP_FILE_PATH", default=BASE_DIR / "var" / "otp-messages.jsonl")
OTP_HTTP_BASE_URL = env.str("OTP_HTTP_BASE_URL", default="https://api.twilio.com")
OTP_HTTP_ACCOUNT_SID = env.str("OTP_HTTP_ACCOUNT_SID", default="")
OTP_HTTP_AUTH_TOKEN = env.str("OTP_HTTP_AUTH_TOKEN", default="")
OTP_HTTP_FROM = env.str("OTP_HTTP_FROM", default="")
OTP_HTTP_WHATSAPP_FROM = env.str("OTP_HTTP_WHATSAPP_FROM", default="")
OTP_HTTP_TIMEOUT_SECONDS = env.float("OTP_HTTP_TIMEOUT_SECONDS", default=10.0)
IDENTITY_SESSION_TTL_SECONDS = env.int("IDENTITY_SESSION_TTL_SECONDS", default=30 * 24 * 3600)
APP_SESSION_TTL_SECONDS = env.int("APP_SESSION_TTL_SECONDS", default=24 * 3600)
# Outgoing webhooks to applications' webhook_url: a "webhook" job per event, signed with the app's signing secret.
APP_WEBHOOK_TIMEOUT_SECONDS = env.float("APP_WEBHOOK_TIMEOUT_SECONDS", default=10.0)
APP_WEBHOOK_MAX_ATTEMPTS = env.int("APP_WEBHOOK_MAX_ATTEMPTS", default=12)
APP_WEBHOOK_SECRET_GRACE_SECONDS = env.int("APP_WEBHOOK_SECRET_GRACE_SECONDS", default=24 * 3600)
# Production sends only to https:// URLs on public addresses (no plain HTTP, no private, loopback or link-local
# networks: a webhook URL must not reach inside our own network).
APP_WEBHOOK_ALLOW_HTTP = env.bool("APP_WEBHOOK_ALLOW_HTTP", default=DEBUG)
APP_WEBHOOK_ALLOW_PRIVATE_ADDRESSES = env.bool("APP_WEBHOOK_ALLOW_PRIVATE_ADDRESSES", default=DEBUG)

# Governance: the policy engine, autonomy and approvals (docs/domains/governance.md).
POLICY_DEFAULT_EFFECT = env.str("POLICY_DEFAULT_EFFECT", default="deny")
POLICY_CACHE_CHECK_MS = env.int("POLICY_CACHE_CHECK_MS", default=500)
AUTONOMY_DEFAULT_LEVEL = env.int("AUTONOMY_DEFAULT_LEVEL", default=0)
APPROVAL_TTL_SECONDS = env.int("APPROVAL_TTL_SECONDS", default=24 * 3600)
APPROVAL_IMPACT_AMOUNTS = env.str("APPROVAL_IMPACT_AMOUNTS", default="1,100000,1000000,10000000")
APPROVAL_IMPACT_RISKS = env.str("APPROVAL_IMPACT_RISKS", default="0.25,0.5,0.75,0.9")
APPROVAL_QUORUM = env.str("APPROVAL_QUORUM", default="*.critical=2")
CELERY_BEAT_SCHEDULE["governance-approvals-expire"] = {
    "task": "governance.approvals_expire",
    "schedule": env.int("APPROVAL_EXPIRY_INTERVAL_SECONDS", default=60),
}
# Institutional memory (docs/domains/memory.md): decisions without a fixed expiry are reviewed this often;
# the memory job (expire due lifecycles, open due reviews) is queued this often.
MEMORY_REVIEW_INTERVAL_DAYS = env.float("MEMORY_REVIEW_INTERVAL_DAYS", default=90.0)
MEMORY_TICK_SECONDS = env.float("MEMORY_TICK_SECONDS", default=60.0)
CELERY_BEAT_SCHEDULE["governance.memory_tick"] = {"task": "governance.memory_tick", "schedule": MEMORY_TICK_SECONDS,
                                                  "options": {"expires": MEMORY_TICK_SECONDS}}

# Integrity (docs/operations/reliability.md): verify_all every INTEGRITY_VERIFY_SECONDS (daily); a failure
# activates this kill switch (empty: report and log only).
INTEGRITY_VERIFY_SECONDS = env.float("INTEGRITY_VERIFY_SECONDS", default=86400.0)
INTEGRITY_FAILURE_KILL_SWITCH = env.str("INTEGRITY_FAILURE_KILL_SWITCH", default="all")
CELERY_BEAT_SCHEDULE["prostqs.verify_all"] = {"task": "prostqs.verify_all", "schedule": INTEGRITY_VERIFY_SECONDS}

# Bodies above this size are refused with 413 before anything is parsed.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=1024 * 1024)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    # The Stripe client logs whole responses (client secrets included) at DEBUG: never below INFO, whatever
    # LOG_LEVEL says (a test searches every DEBUG record for secrets).
    "loggers": {"django.db.backends": {"level": "WARNING"}, "stripe": {"level": "INFO"}},
}

# Security: production settings pass `manage.py check --deploy` without warnings.
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
# Content-Security-Policy (django-csp, docs/operations/reliability.md): the console runs only its own static scripts (no
# inline script or event handler) and its own stylesheets (no <style> element); style="" attributes stay allowed
# (Django's admin and a few of our cells use them; with images limited to this origin they cannot send anything
# out). Charts and QR codes are inline SVG. The API's answers get prostqs.middleware.API_CONTENT_SECURITY_POLICY
# instead, and the API docs page a policy of its own (prostqs.views).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "style-src-attr": [UNSAFE_INLINE],
        "img-src": [SELF, "data:"],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=8 * 3600)
SESSION_EXPIRE_AT_BROWSER_CLOSE = env.bool("SESSION_EXPIRE_AT_BROWSER_CLOSE", default=True)
CSRF_COOKIE_HTTPONLY = True

# The console (docs/domains/console.md): staff sign in with a password and a TOTP code (django-otp); failed attempts are
# counted in rate_limit_entries and lock the username (or the address) out for a while. History is read, never
# reverted: a revert would save an old row past the services.
OTP_TOTP_ISSUER = env.str("OTP_TOTP_ISSUER", default="PROST-QS")
OTP_TOTP_THROTTLE_FACTOR = 0  # wrong codes are limited by CONSOLE_LOGIN_* (per username and address) instead
CONSOLE_LOGIN_MAX_FAILURES = env.int("CONSOLE_LOGIN_MAX_FAILURES", default=5)
CONSOLE_LOGIN_MAX_FAILURES_PER_IP = env.int("CONSOLE_LOGIN_MAX_FAILURES_PER_IP", default=20)
CONSOLE_LOGIN_LOCKOUT_SECONDS = env.int("CONSOLE_LOGIN_LOCKOUT_SECONDS", default=900)
SIMPLE_HISTORY_REVERT_DISABLED = True
if not DEBUG:
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    # /healthz is probed over plain HTTP by load balancers inside the network.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]

# Billing. Without STRIPE_SECRET_KEY a local payment provider stands in (intents "pi_local_…").
STRIPE_SECRET_KEY = env.str("STRIPE_SECRET_KEY", default="")
STRIPE_WEBHOOK_SECRET = env.str("STRIPE_WEBHOOK_SECRET", default="")
STRIPE_API_BASE = env.str("STRIPE_API_BASE", default="")  # empty: Stripe's own; set for a proxy or a fake server
STRIPE_WEBHOOK_TOLERANCE = env.int("STRIPE_WEBHOOK_TOLERANCE", default=300)
STRIPE_TIMEOUT_SECONDS = env.int("STRIPE_TIMEOUT_SECONDS", default=20)
BILLING_CURRENCY = env.str("BILLING_CURRENCY", default="BRL")
BILLING_PAYOUT_APPROVAL_THRESHOLD = env.int("BILLING_PAYOUT_APPROVAL_THRESHOLD", default=100_000)
BILLING_PAYOUT_BACKEND = env.str("BILLING_PAYOUT_BACKEND", default="billing.payout_backends.LocalPayoutBackend")
BILLING_IDEMPOTENCY_TTL_HOURS = max(24, env.int("BILLING_IDEMPOTENCY_TTL_HOURS", default=24))
BILLING_IDEMPOTENCY_WAIT_SECONDS = env.int("BILLING_IDEMPOTENCY_WAIT_SECONDS", default=10)
SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"] = {
    **SPECTACULAR_SETTINGS.get("ENUM_NAME_OVERRIDES", {}),
    "BillingProviderEnum": "billing.models.Provider",
    "IdentityLinkProviderEnum": "identity.models.IdentityLink.Provider",  # both are fields named "provider"
    "PaymentIntentStatusEnum": "billing.models.PaymentIntent.Status",
    "PayoutStatusEnum": "billing.models.Payout.Status",
    "PayoutApprovalEnum": "billing.models.Payout.Approval",
    "SubscriptionStatusEnum": "billing.models.Subscription.Status",
    "LedgerEntryTypeEnum": "billing.models.LedgerEntry.Type",
}
BILLING_RECONCILE_EVERY_SECONDS = env.int("BILLING_RECONCILE_EVERY_SECONDS", default=6 * 3600)
CELERY_BEAT_SCHEDULE.update({
    "billing.reconcile": {"task": "billing.reconcile", "schedule": float(BILLING_RECONCILE_EVERY_SECONDS)},
    "billing.idempotency_cleanup": {"task": "billing.idempotency_cleanup", "schedule": 3600.0},
})

# Ads (docs/domains/ads.md). Daily and monthly budgets open their next period from a job queued for the end of each
# period; this sweep is the safety net.
ADS_ROLLOVER_SWEEP_SECONDS = env.float("ADS_ROLLOVER_SWEEP_SECONDS", default=60.0)
CELERY_BEAT_SCHEDULE.update({
    "ads.budgets_rollover": {"task": "ads.budgets_rollover", "schedule": ADS_ROLLOVER_SWEEP_SECONDS,
                             "options": {"expires": ADS_ROLLOVER_SWEEP_SECONDS}},
})
SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"].update({
    "AdBudgetStatusEnum": "ads.models.AdBudget.Status",
    "AdCampaignStatusEnum": "ads.models.AdCampaign.Status",
    "AdSpendStatusEnum": "ads.models.AdSpendEvent.Status",
    "AdBudgetPeriodEnum": "ads.models.AdBudget.Period",
    "AdCampaignObjectiveEnum": "ads.models.AdCampaign.Objective",
    "AdCampaignStopReasonEnum": "ads.models.AdCampaign.StopReason",
    "AdSpendUnitEnum": "ads.models.AdSpendEvent.Unit",
})

# Agents, risk and the observer (docs/domains/agents.md).
AGENT_DECISION_TTL_SECONDS = env.int("AGENT_DECISION_TTL_SECONDS", default=24 * 3600)
RISK_RECOMPUTE_SECONDS = env.float("RISK_RECOMPUTE_SECONDS", default=900.0)
CELERY_BEAT_SCHEDULE.update({
    "agents.risk_recompute": {"task": "agents.risk_recompute", "schedule": RISK_RECOMPUTE_SECONDS,
                              "options": {"expires": RISK_RECOMPUTE_SECONDS}},
})
SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"].update({
    "AgentTypeEnum": "agents.models.Agent.Type",
    "AgentDecisionStatusEnum": "agents.models.AgentDecision.Status",
    "AgentDecisionOutcomeEnum": "agents.models.decisions.Outcome",
    "HumanDecisionEnum": "agents.models.HumanDecision.Decision",
    "ApprovalDecisionEnum": "governance.models.ApprovalDecision.Decision",
    "RiskLevelEnum": "agents.models.RiskLevel",
})
