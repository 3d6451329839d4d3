"""One settings module, driven by the environment.

Embedded (default): SQLite under ``var/``, an in-process channel layer and eager Celery unless
``REDIS_URL`` is set (``make run`` always starts a Redis and sets it). Scaled: ``DATABASE_URL`` and
``REDIS_URL`` point at PostgreSQL and Redis. Every variable is listed in the README.
"""

import os
import secrets
from datetime import timedelta
from pathlib import Path

import environ
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()


def _secret(name: str, default: str | None = None) -> str | None:
    """A secret from ``NAME`` or from the file named by ``NAME_FILE`` (Docker/K8s secrets)."""
    file_name = env.str(f"{name}_FILE", default="")
    if file_name:
        return Path(file_name).read_text().strip()
    return env.str(name, default=default)


VAR_DIR = Path(env.str("CC_VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env.bool("DJANGO_DEBUG", default=False)


def _embedded_secret_key() -> str:
    # Embedded mode only: one random key per installation, kept so sessions survive restarts.
    key_file = VAR_DIR / "secret_key"
    if not key_file.exists():
        # Created readable by its owner only, from the first byte.
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(64))
    return key_file.read_text().strip()


HTTPS = env.bool("DJANGO_HTTPS", default=False)
SECRET_KEY = _secret("DJANGO_SECRET_KEY") or ""
if not SECRET_KEY:
    if HTTPS:
        # Several web hosts, or a container without a volume, would each invent their own key.
        raise ImproperlyConfigured("Set DJANGO_SECRET_KEY (or _FILE) in production.")
    SECRET_KEY = _embedded_secret_key()
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "django_celery_beat",
    "django_htmx",
    "axes",
    "csp",
    "apps.core",
    "apps.accounts",
    "apps.notifications",
    "apps.contacts",
    "apps.queues",
    "apps.flows",
    "apps.campaigns",
    "apps.interactions",
    "apps.integrations",
    "apps.desk",
    "apps.connectors",
    "apps.voicesim",
    "apps.reports",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "apps.core.middleware.OrganizationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as django-axes asks: it turns lockouts raised by the backend into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "contactcenter.urls"
WSGI_APPLICATION = "contactcenter.wsgi.application"
ASGI_APPLICATION = "contactcenter.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.template.context_processors.tz",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "apps.core.context_processors.organization",
                "apps.notifications.context_processors.unread",
                "apps.desk.context_processors.unread_chat",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'contactcenter.sqlite3'}")
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web and worker processes write to the same file: WAL lets readers run beside the writer,
    # IMMEDIATE takes the write lock at BEGIN (no upgrade deadlock), the timeout waits instead
    # of failing with "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
else:
    # Django advises against persistent connections under ASGI (daphne): default to none.
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=0)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: channel layer, Celery broker, cache ------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")

if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                # redis-py 8 reads with a 5 s timeout by default, the same as channels-redis's
                # blocking wait for messages: every idle socket's consumer would crash after
                # 5 s. A longer timeout keeps idle sockets open and still notices dead peers.
                "hosts": [{"address": REDIS_URL, "socket_timeout": 30, "socket_keepalive": True}],
                "prefix": env.str("CHANNELS_PREFIX", "cc"),
            },
        }
    }
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "cc",
        }
    }
else:
    # One process only (tests, management commands): real time stays inside it.
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Routing: the request that queues an interaction places it at once (inline), and the router
# process (``manage.py router``) places whatever waits, in batches. Off, only the router routes:
# enqueue and release then cost a request no routing work (for high volumes).
ROUTING_INLINE = env.bool("ROUTING_INLINE", default=True)
# The router looks for work at least this often even without a wake-up (SQLite has no NOTIFY).
ROUTER_IDLE_SECONDS = env.float("ROUTER_IDLE_SECONDS", default=1.0)
# Under steady traffic: a round over every queue and agent at least this often (time-based
# rules: relaxed skills, preferred-agent waits, opening hours), and queue settings, members
# and skills read again this often.
ROUTER_FULL_SECONDS = env.float("ROUTER_FULL_SECONDS", default=5.0)
ROUTER_CONFIG_SECONDS = env.float("ROUTER_CONFIG_SECONDS", default=5.0)

CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=not REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True  # a worker that dies mid-task leaves the task to another
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = "UTC"
# Every periodic schedule, declared once; django-celery-beat copies them into the admin.
CELERY_BEAT_SCHEDULE = {
    "offers-expire": {
        "task": "apps.queues.tasks.offers_expire_task",
        "schedule": timedelta(seconds=5),
    },
    "queues-maintain": {
        "task": "apps.queues.tasks.queues_maintain_task",
        "schedule": timedelta(seconds=15),
    },
    "notifications-purge": {
        "task": "apps.notifications.tasks.notifications_purge_task",
        "schedule": timedelta(hours=6),
    },
    "webhooks-sweep": {
        "task": "apps.integrations.tasks.webhook_sweep_task",
        "schedule": timedelta(minutes=1),
    },
    "channels-sweep": {
        "task": "apps.connectors.tasks.channels_sweep_task",
        "schedule": timedelta(seconds=30),
    },
    "chat-flow-timeouts": {
        "task": "apps.connectors.tasks.chat_flow_timeouts_task",
        "schedule": timedelta(seconds=30),
    },
    "recordings-maintain": {
        "task": "apps.connectors.tasks.recordings_maintain_task",
        "schedule": timedelta(hours=1),
    },
    "reports-exports-purge": {
        "task": "apps.reports.page_tasks.exports_purge_task",
        "schedule": timedelta(hours=6),
    },
    "reports-subscriptions-send": {
        "task": "apps.reports.page_tasks.report_subscriptions_send_task",
        "schedule": timedelta(minutes=5),
    },
    "reports-rollup": {
        "task": "apps.reports.tasks.reports_rollup_task",
        "schedule": timedelta(minutes=1),
    },
    "wallboard-tick": {
        "task": "apps.reports.live_tasks.wallboard_tick_task",
        "schedule": timedelta(seconds=env.int("WALLBOARD_TICK_SECONDS", default=5)),
    },
    "alerts-evaluate": {
        "task": "apps.reports.live_tasks.alerts_evaluate_task",
        "schedule": timedelta(seconds=30),
    },
    "email-poll": {
        "task": "apps.connectors.tasks.email_poll_task",
        "schedule": timedelta(seconds=env.int("EMAIL_POLL_SECONDS", default=60)),
    },
}

# --- Auth -------------------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "apps.accounts.backends.OrganizationModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False
PROXY_COUNT = env.int("DJANGO_PROXY_COUNT", default=0)
# Behind N proxies the client is N hops back in X-Forwarded-For; with none, the header is the
# client's own word and must be ignored (else rotating it would dodge lockouts).
AXES_IPWARE_PROXY_COUNT = PROXY_COUNT or None
AXES_IPWARE_META_PRECEDENCE_ORDER = (
    ["HTTP_X_FORWARDED_FOR", "REMOTE_ADDR"] if PROXY_COUNT else ["REMOTE_ADDR"]
)

# --- i18n and time zones ----------------------------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("fr", _("French"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
TIME_ZONE = "UTC"
USE_TZ = True

# --- Static files -----------------------------------------------------------------------------
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env.str("DJANGO_STATIC_ROOT", default=str(VAR_DIR / "staticfiles")))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise warns about a missing one
MEDIA_ROOT = Path(env.str("DJANGO_MEDIA_ROOT", default=str(VAR_DIR / "media")))
MEDIA_URL = "media/"
# Files agents attach to messages (served only through an access-checked view, never MEDIA_URL).
ATTACHMENT_MAX_BYTES = env.int("ATTACHMENT_MAX_BYTES", default=10 * 1024 * 1024)
# --- Mail the platform sends itself (transcripts when no mailbox is set up) --------------------
# EMAIL_URL: smtp://user:password@host:587/?tls=True, consolemail://, … Embedded default: files
# in var/mail/ (nothing leaves the machine; read them there).
if env.str("EMAIL_URL", default=""):
    vars().update(env.email_url("EMAIL_URL"))
else:
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = VAR_DIR / "mail"
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="contact-center@localhost")

# --- Report pages (apps/reports): exports larger than this many rows run in a task ------------
REPORTS_SYNC_EXPORT_MAX_ROWS = env.int("REPORTS_SYNC_EXPORT_MAX_ROWS", default=5000)
REPORTS_EXPORT_RETENTION_DAYS = env.int("REPORTS_EXPORT_RETENTION_DAYS", default=7)
# A running export whose worker has written nothing for this long is taken over by a retry.
REPORTS_EXPORT_STALE_SECONDS = env.int("REPORTS_EXPORT_STALE_SECONDS", default=600)
REPORTS_DRILLDOWN_PAGE_SIZE = 50

# --- Self-service flows (apps/flows) --------------------------------------------------------------
# HTTP lookups of flows may reach private addresses (an intranet CRM) only when this is on.
FLOWS_LOOKUP_ALLOW_PRIVATE_NETWORKS = env.bool("FLOWS_LOOKUP_ALLOW_PRIVATE_NETWORKS", default=False)

# --- Channels (apps/connectors) -----------------------------------------------------------------
# Fernet keys for channel credentials, newest first (empty: one derived from SECRET_KEY).
CHANNEL_SECRET_KEYS = env.list("CHANNEL_SECRET_KEYS", default=[])
# The address providers reach this system at, e.g. https://cc.example.com (webhook signatures
# are computed on the public URL; status callback URLs are built from it). Empty: the request's.
PUBLIC_BASE_URL = env.str("PUBLIC_BASE_URL", default="").rstrip("/")
# Provider API roots (tests and sandboxes point them elsewhere).
TWILIO_API_BASE = env.str("TWILIO_API_BASE", default="")
# The simulated provider calls the webhooks here (default: the origin its page was opened on).
VOICE_SIMULATOR_WEBHOOK_BASE = env.str("VOICE_SIMULATOR_WEBHOOK_BASE", default="").rstrip("/")
# What a queued caller hears between announcements (a number's config "hold_music" overrides).
VOICE_HOLD_MUSIC_URL = env.str(
    "VOICE_HOLD_MUSIC_URL",
    default="http://com.twilio.music.classical.s3.amazonaws.com/BusyStrings.mp3",
)
META_GRAPH_URL = env.str("META_GRAPH_URL", default="https://graph.facebook.com/v21.0").rstrip("/")
X_API_URL = env.str("X_API_URL", default="https://api.x.com/2").rstrip("/")
# Video calls: rooms on a Jitsi-compatible server (a self-hosted Jitsi Meet, or meet.jit.si).
VIDEO_BASE_URL = env.str("VIDEO_BASE_URL", default="https://meet.jit.si").rstrip("/")
# Voicemail: how long a link to a message's audio works, and how long a notification waits
# for the transcript before it goes without it.
VOICEMAIL_LINK_MAX_AGE = env.int("VOICEMAIL_LINK_MAX_AGE", default=7 * 24 * 3600)
VOICEMAIL_TRANSCRIPT_WAIT_SECONDS = env.int("VOICEMAIL_TRANSCRIPT_WAIT_SECONDS", default=60)

# E-mail channel: mailboxes polled over IMAP every EMAIL_POLL_SECONDS (at most EMAIL_POLL_BATCH
# messages each time); a message larger than EMAIL_MAX_BYTES is taken with its headers only.
# ESP inbound webhooks (django-anymail, under /hooks/anymail/<esp>/inbound/) need HTTP basic
# auth: ANYMAIL_WEBHOOK_SECRET="user:password" (comma-separated for a rotation); unset, they
# refuse everything. Any other ANYMAIL_<NAME> variable becomes anymail's setting <NAME> (e.g.
# ANYMAIL_MAILGUN_WEBHOOK_SIGNING_KEY, which Mailgun's inbound webhook needs).
EMAIL_POLL_SECONDS = env.int("EMAIL_POLL_SECONDS", default=60)
EMAIL_POLL_BATCH = env.int("EMAIL_POLL_BATCH", default=200)
EMAIL_MAX_BYTES = env.int("EMAIL_MAX_BYTES", default=30 * 1024 * 1024)
ANYMAIL = {
    **{
        name.removeprefix("ANYMAIL_"): _secret(name)
        for name in {n.removesuffix("_FILE") for n in os.environ if n.startswith("ANYMAIL_")}
    },
    "WEBHOOK_SECRET": [s for s in (_secret("ANYMAIL_WEBHOOK_SECRET") or "").split(",") if s],
}
# Web chat widget (apps/connectors/webchat.py): limits per visitor token, per address, per hour.
WEBCHAT_MESSAGE_MAX_CHARS = env.int("WEBCHAT_MESSAGE_MAX_CHARS", default=2000)
WEBCHAT_MESSAGES_PER_MINUTE = env.int("WEBCHAT_MESSAGES_PER_MINUTE", default=20)
WEBCHAT_MESSAGES_PER_MINUTE_PER_IP = env.int("WEBCHAT_MESSAGES_PER_MINUTE_PER_IP", default=60)
WEBCHAT_CONVERSATIONS_PER_HOUR_PER_IP = env.int("WEBCHAT_CONVERSATIONS_PER_HOUR_PER_IP", default=10)
WEBCHAT_TRANSCRIPTS_PER_HOUR = env.int("WEBCHAT_TRANSCRIPTS_PER_HOUR", default=3)
# Other socket frames (typing, receipts): more than this per minute are dropped.
WEBCHAT_FRAMES_PER_MINUTE = env.int("WEBCHAT_FRAMES_PER_MINUTE", default=120)
WEBCHAT_CALLBACK_MAX_DAYS = env.int("WEBCHAT_CALLBACK_MAX_DAYS", default=30)
# Seconds between two checks of a waiting visitor's place in line (sent when it changes).
WEBCHAT_STATUS_SECONDS = env.float("WEBCHAT_STATUS_SECONDS", default=5.0)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": env.str(
            "DJANGO_STATICFILES_STORAGE",
            default="whitenoise.storage.CompressedManifestStaticFilesStorage",
        )
    },
}

# --- REST API -----------------------------------------------------------------------------
# Reports: a synchronous XLSX export of interactions stops here (CSV streams any size).
REPORTS_XLSX_MAX_ROWS = env.int("REPORTS_XLSX_MAX_ROWS", default=50_000)
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "apps.accounts.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "apps.core.api.Pagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "apps.core.api.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Contact center API",
    "DESCRIPTION": "Organization-scoped REST API. Authenticate with `Authorization: Token <user "
    "token>` or `Authorization: Api-Key <organization key>`.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    # Several choice sets share a field name ("channel"): give each a stable schema name.
    "ENUM_NAME_OVERRIDES": {
        "InteractionChannelEnum": "apps.interactions.models.Channel",
        "ConsentChannelEnum": "apps.contacts.models.ConsentChannel",
        "ConsentStatusEnum": "apps.contacts.models.Consent.Status",
        "PresenceStatusEnum": "apps.queues.models.PresenceStatus",
        "OfferStatusEnum": "apps.queues.models.Offer.Status",
        "CallbackStatusEnum": "apps.queues.models.Callback.Status",
        "WebhookDeliveryStatusEnum": "apps.integrations.models.WebhookDelivery.Status",
    },
}

# --- Security -------------------------------------------------------------------------------
# HTTPS (read above) is a deployment fact, not a debug flag: embedded mode is HTTP on localhost.
SECURE_SSL_REDIRECT = HTTPS
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_HSTS_SECONDS = env.int("DJANGO_HSTS_SECONDS", default=31536000 if HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = HTTPS
if env.bool("DJANGO_BEHIND_PROXY", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_HTTPONLY = True
# Messages may carry a secret shown once (a new API key): keep them server-side.
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        # Inline style attributes (Django admin, Swagger UI) are harmless enough to allow.
        "style-src": [SELF, "'unsafe-inline'"],
        "img-src": [SELF, "data:"],
        # The browser softphone (Twilio Voice SDK): signalling, insights and its ringtones.
        "connect-src": [SELF, "wss://*.twilio.com", "https://*.twilio.com"],
        "media-src": [SELF, "https://sdk.twilio.com"],
        "font-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

# --- Logging --------------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# --- Product tunables that are deployment facts (supervisor tunables live in the admin) -----
NOTIFICATIONS_RETENTION_DAYS = env.int("NOTIFICATIONS_RETENTION_DAYS", default=90)
# Webhooks to private, loopback or link-local addresses: fine on one machine, a way into the
# platform's network when hosted for several tenants.
WEBHOOKS_ALLOW_PRIVATE_NETWORKS = env.bool("WEBHOOKS_ALLOW_PRIVATE_NETWORKS", default=not HTTPS)
