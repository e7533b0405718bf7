"""Settings for the helpdesk, read from the environment with defaults that work locally.

The zero-setup default is a SQLite file under var/ and Redis on localhost; tests and
production set DATABASE_URL to PostgreSQL.
"""

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from helpdesk import web_process

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env.str("SECRET_KEY", default="insecure-local-only-key-set-SECRET_KEY-in-production")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "health_check",
    "helpdesk",
    "transfers",
    "telephony",
    "reporting",
    "supervision",
    "api",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "helpdesk.middleware.ContentSecurityPolicyMiddleware",
    "axes.middleware.AxesMiddleware",
]

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

ROOT_URLCONF = "helpdesk.urls"
ASGI_APPLICATION = "helpdesk.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "supervision.context_processors.supervision",
            ],
        },
    },
]

# --- Database ---------------------------------------------------------------
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'helpdesk.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web process, the worker and beat share one file: WAL lets readers go on while
    # one writes, IMMEDIATE takes the write lock at BEGIN so two writers queue instead of
    # failing half-way, and the timeout is how long one waits for the other.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=20000;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
    # SQLite builds the index of visitor lines without its INCLUDE column, which only PostgreSQL
    # has (helpdesk/models/engagements.py); the index still serves the limit's lookup.
    SILENCED_SYSTEM_CHECKS = ["models.W040"]
else:
    # Django's backend reading timestamps with psycopg's C parser (helpdesk/postgresql/base.py).
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        DATABASES["default"]["ENGINE"] = "helpdesk.postgresql"
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    DATABASE_POOL_SIZE = env.int("DATABASE_POOL_SIZE", default=8)
    if web_process.serving and DATABASE_POOL_SIZE > 0:
        # Under ASGI, Django runs each HTTP request's sync code in a thread of its own, and a
        # connection belongs to its thread: CONN_MAX_AGE never hands one request's connection
        # to the next, so every request connected afresh (~3-5 ms, and a new backend plans its
        # first statements slowly; docs/performance.md). The web process takes them from a pool:
        # open and warm, at most DATABASE_POOL_SIZE, each checked before use (CONN_HEALTH_CHECKS).
        DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
            "min_size": min(2, DATABASE_POOL_SIZE),
            "max_size": DATABASE_POOL_SIZE,
            "timeout": 10,  # a request waits at most this for a free connection, then fails (a 500)
        }
        DATABASES["default"]["CONN_MAX_AGE"] = 0  # the pool keeps them open; Django refuses both
    else:
        DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=0))
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: channel layer, Celery broker, caches --------------------------------
REDIS_URL = env.str("REDIS_URL", default="redis://127.0.0.1:6379/0")
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": env.str("CHANNEL_LAYER_BACKEND", default="channels_redis.pubsub.RedisPubSubChannelLayer"),
        "CONFIG": {"hosts": [REDIS_URL], "prefix": env.str("CHANNEL_LAYER_PREFIX", default="helpdesk")},
    }
}
# A Redis that stops answering (hung, partitioned) must cost a chat frame this long at most, not hang it.
REDIS_SOCKET_TIMEOUT_SECONDS = env.float("REDIS_SOCKET_TIMEOUT_SECONDS", default=2.0)
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": env.str("CACHE_PREFIX", default="helpdesk"),
        "OPTIONS": {
            "socket_timeout": REDIS_SOCKET_TIMEOUT_SECONDS,
            "socket_connect_timeout": REDIS_SOCKET_TIMEOUT_SECONDS,
        },
    }
}

CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 60}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE = {
    "expire-overdue-transfers": {
        "task": "transfers.tasks.expire_overdue_transfers",
        "schedule": env.float("TRANSFER_SWEEP_SECONDS", default=2.0),
    },
    "route-waiting-engagements": {
        "task": "helpdesk.tasks.route_waiting_engagements_task",
        "schedule": env.float("ROUTING_SWEEP_SECONDS", default=5.0),
    },
    "overflow-waiting-engagements": {
        "task": "helpdesk.tasks.overflow_due_engagements_task",
        "schedule": env.float("OVERFLOW_SWEEP_SECONDS", default=5.0),
    },
    "send-unsent-transcripts": {
        "task": "helpdesk.tasks.send_unsent_transcripts_task",
        "schedule": env.float("TRANSCRIPT_SWEEP_SECONDS", default=60.0),
    },
    "end-overdue-wrap-ups": {
        "task": "helpdesk.tasks.expire_due_wrap_ups_task",
        "schedule": env.float("WRAP_UP_SWEEP_SECONDS", default=5.0),
    },
    "clean-up-call-legs": {
        "task": "telephony.tasks.clean_up_legs",
        "schedule": env.float("LEG_SWEEP_SECONDS", default=5.0),
    },
}

# --- Product settings ---------------------------------------------------------
TRANSFER_ACCEPT_TIMEOUT_SECONDS = env.int("TRANSFER_ACCEPT_TIMEOUT_SECONDS", default=30)
# An accepted chat transfer is cancelled if the initiator does not click Transfer Now by then.
TRANSFER_HAND_OVER_TIMEOUT_SECONDS = env.int("TRANSFER_HAND_OVER_TIMEOUT_SECONDS", default=180)
# The initiator's read-only copies of chats they transferred: how far back, and how many.
TRANSFER_RECENT_HOURS = env.int("TRANSFER_RECENT_HOURS", default=4)
TRANSFER_RECENT_LIMIT = env.int("TRANSFER_RECENT_LIMIT", default=10)
CONSULT_RING_TIMEOUT_SECONDS = env.int("CONSULT_RING_TIMEOUT_SECONDS", default=30)
LEG_CLEANUP_GRACE_SECONDS = env.int("LEG_CLEANUP_GRACE_SECONDS", default=10)
HOLD_ALONE_LIMIT_SECONDS = env.int("HOLD_ALONE_LIMIT_SECONDS", default=120)
MESSAGE_MAX_LENGTH = 4000
# The wait estimate's EWMA weight of the latest answer (helpdesk/services/wait_estimate.py, docs/metrics.md).
WAIT_ESTIMATE_ALPHA = env.float("WAIT_ESTIMATE_ALPHA", default=0.3)
# A visitor may have an ended chat's transcript e-mailed this many times (helpdesk/services/transcripts.py).
TRANSCRIPT_EMAILS_PER_CHAT = env.int("TRANSCRIPT_EMAILS_PER_CHAT", default=3)
VISITOR_MESSAGES_PER_MINUTE = env.int("VISITOR_MESSAGES_PER_MINUTE", default=60)
# A visitor's link keeps opening their chat while it lasts and this many hours after it ended.
VISITOR_TOKEN_HOURS_AFTER_END = env.float("VISITOR_TOKEN_HOURS_AFTER_END", default=24)
# Per engagement per minute, the visitor's frames other than messages (helpdesk/rate_limits.py).
VISITOR_FRAME_LIMITS = {
    "typing": env.int("VISITOR_TYPING_PER_MINUTE", default=60),
    "resume": env.int("VISITOR_RESUMES_PER_MINUTE", default=20),
}
# Per operator per minute, over all their sockets (helpdesk/rate_limits.py has the other frame types).
OPERATOR_FRAME_LIMITS = {
    "message.send": env.int("OPERATOR_MESSAGES_PER_MINUTE", default=120),
    "*": env.int("OPERATOR_FRAMES_PER_MINUTE", default=600),
}
# Worker threads that store chat lines in each Daphne process when the database is not PostgreSQL.
CHAT_DB_THREADS = env.int("CHAT_DB_THREADS", default=4)
# Asynchronous PostgreSQL connections per Daphne process for posting chat lines (helpdesk/async_db.py).
CHAT_ASYNC_DB_CONNECTIONS = env.int("CHAT_ASYNC_DB_CONNECTIONS", default=8)
# Redis connections per Daphne process for the visitor rate limit (a blocking pool: callers wait, never fail).
RATE_LIMIT_REDIS_CONNECTIONS = env.int("RATE_LIMIT_REDIS_CONNECTIONS", default=20)
TELEPHONY_PROVIDER = env.str("TELEPHONY_PROVIDER", default="telephony.providers.builtin.BuiltinProvider")
TWILIO_ACCOUNT_SID = env.str("TWILIO_ACCOUNT_SID", default="")
TWILIO_AUTH_TOKEN = env.str("TWILIO_AUTH_TOKEN", default="")
TWILIO_CALLER_ID = env.str("TWILIO_CALLER_ID", default="")
PUBLIC_BASE_URL = env.str("PUBLIC_BASE_URL", default="http://127.0.0.1:8000")

# --- Auth, i18n, static ---------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
SERVE_STATIC = env.bool("SERVE_STATIC", default=True)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.CursorPagination",
    "PAGE_SIZE": 50,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Helpdesk API",
    "DESCRIPTION": (
        "Read the helpdesk's configuration, engagements, transfers, calls and metrics; "
        "add notes and start chat transfers."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The docs UI is served from our own static files (no CDN), so it works offline and under CSP.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "EngagementEndReasonEnum": "helpdesk.models.engagements.Engagement.EndReason",
        "LegEndReasonEnum": "telephony.models.Leg.EndReason",
        "TransferEndReasonEnum": "transfers.models.EndReason",
    },
}

# Login throttling: five failures lock the username and address pair for a while.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = 0.25  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_ENABLED = env.bool("AXES_ENABLED", default=True)
# Behind a load balancer the socket peer is the balancer: count the proxies that append to
# X-Forwarded-For so throttling keys on the real client (helpdesk.middleware.client_ip).
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
AXES_CLIENT_IP_CALLABLE = "helpdesk.middleware.client_ip"

# --- Security -------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
PRODUCTION = env.bool("PRODUCTION", default=False)
if PRODUCTION and "SECRET_KEY" not in env:
    # The default key is public (it is in this file): production must never sign sessions with it.
    raise ImproperlyConfigured("Set SECRET_KEY in the environment when PRODUCTION is on.")
if PRODUCTION and DEBUG:
    raise ImproperlyConfigured("DEBUG must be off when PRODUCTION is on.")
# The caller simulator (/phone/simulator/ and its API) places calls without a login: for demos and
# tests only, so it is off in production unless switched on explicitly (docs/security.md, R4).
TELEPHONY_SIMULATOR = env.bool("TELEPHONY_SIMULATOR", default=not PRODUCTION)
# Mail (transcripts): printed on the console locally, SMTP in production (EMAIL_HOST and friends).
EMAIL_BACKEND = env.str(
    "EMAIL_BACKEND", default=f"django.core.mail.backends.{'smtp' if PRODUCTION else 'console'}.EmailBackend"
)
EMAIL_FILE_PATH = env.str("EMAIL_FILE_PATH", default=str(VAR_DIR / "mail"))  # for the file backend (tests)
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=20)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Helpdesk <helpdesk@localhost>")
if env.bool("SECURE", default=not DEBUG and PRODUCTION):
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.channels.server": {"level": "WARNING"}},
}
