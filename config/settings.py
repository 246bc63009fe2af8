"""DermaTrack settings, read from the environment.

Defaults give the embedded setup (SQLite, Celery tasks run eagerly in the request, files
under ``media/``). ``DATABASE_URL`` switches to PostgreSQL, ``CELERY_BROKER_URL`` to a real
broker with separate workers, and ``DERMATRACK_ENV=production`` turns on the production
hardening (and refuses to start without ``DJANGO_SECRET_KEY``). ``.env.example`` lists every
variable.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
import django_stubs_ext
from csp.constants import NONE, SELF, UNSAFE_INLINE
from django.core.exceptions import ImproperlyConfigured

# Django's generic classes take their type arguments at run time too (ModelAdmin[Patient], ModelForm[Visit]).
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


def env_float(name: str, default: float) -> float:
    value = os.environ.get(name)
    return float(value) if value else default


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in env_str(name, default).split(",") if item.strip()]


def optional_float(value: str) -> float | None:
    """A float from an environment value, None when it is empty."""
    return float(value) if value.strip() else None


DERMATRACK_ENV = env_str("DERMATRACK_ENV", "development")
PRODUCTION = DERMATRACK_ENV == "production"

SECRET_KEY = env_str("DJANGO_SECRET_KEY")
if not SECRET_KEY:
    if PRODUCTION:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set when DERMATRACK_ENV=production")
    SECRET_KEY = "dev-only-insecure-key-do-not-use-in-production"

DEBUG = env_bool("DJANGO_DEBUG", default=not PRODUCTION)
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "" if PRODUCTION else "127.0.0.1,localhost,testserver")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "knox",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "auditlog",
    "csp",
    "oauth2_provider",
    "clinic",
    "integrations",
    "lesions",
    "ml",
    "assessment",
    "followup",
    "interop",
    "operations",
    "benchmarks",
]

MIDDLEWARE = [
    # first: the client's address (REMOTE_ADDR, or X-Forwarded-For behind TRUSTED_PROXY_COUNT proxies)
    "clinic.middleware.ClientAddressMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # below WhiteNoise: static files keep their caching; every other response is no-store, with a CSP
    "clinic.middleware.NoStoreMiddleware",
    "csp.middleware.CSPMiddleware",
    # under /fhir/, any error answered below this (a refusal, Django's 500 page) as an OperationOutcome
    "interop.fhir.errors.FhirErrorMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    # a NUL in a query parameter would reach PostgreSQL and fail there (500): 400 instead
    "clinic.middleware.RejectNulInQueryMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # actor and address of every audit entry written during the request
    "clinic.middleware.AuditAddressMiddleware",
    # must stay last: turns a lockout raised during authentication into the lockout response
    "axes.middleware.AxesMiddleware",
]

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # refuses logins while locked out, counts failures
    "django.contrib.auth.backends.ModelBackend",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

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
                "clinic.context_processors.clinic_roles",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "patient-list"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-gb"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
# Photos and heatmaps are health data: they live under MEDIA_ROOT but are never served from a
# public URL; a clinic-scoped view streams them (see lesions.views.lesion_image_file).
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(BASE_DIR / "media")))
MEDIA_URL = "/media-not-served/"

# Backups (operations.backup; README "Backups"): the key that signs every backup's manifest, the
# key itself or the path of a file that holds it; kept off the backups and the database. An
# encryption key file makes every backup encrypted (else `backup --encrypt-to FILE` per backup).
BACKUP_SIGNING_KEY = env_str("BACKUP_SIGNING_KEY")
BACKUP_ENCRYPTION_KEY = env_str("BACKUP_ENCRYPTION_KEY")

# Uploads
UPLOAD_MAX_BYTES = env_int("UPLOAD_MAX_BYTES", 20 * 1024 * 1024)
UPLOAD_MAX_PIXELS = env_int("UPLOAD_MAX_PIXELS", 50_000_000)
DATA_UPLOAD_MAX_MEMORY_SIZE = UPLOAD_MAX_BYTES + 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

# Celery: without a broker, tasks run eagerly inside the request (embedded default).
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", default=not env_str("CELERY_BROKER_URL"))
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL") or "memory://"
CELERY_TASK_EAGER_PROPAGATES = False
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600)}
CELERY_TASK_DEFAULT_QUEUE = "analysis"
# Follow-up alignments wait behind nothing a clinician waits for: their own queue, for a worker of its own
# (at a lower priority, or on other machines).
CELERY_TASK_ROUTES = {"followup.tasks.*": {"queue": "followup"}}
# An upload must not hang when the broker is down: a short retry, then the prediction stays
# pending and the periodic sweep queues it again once the broker is back.
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.25, "interval_max": 0.5}
CELERY_BROKER_CONNECTION_TIMEOUT = env_float("CELERY_BROKER_CONNECTION_TIMEOUT", 2.0)
CELERY_BEAT_SCHEDULE = {
    "sweep-stuck-predictions": {"task": "ml.tasks.sweep_stuck_predictions_task", "schedule": 60.0},
    "sweep-stuck-alignments": {"task": "followup.tasks.sweep_stuck_alignments_task", "schedule": 60.0},
    "purge-idempotency-keys": {"task": "lesions.tasks.purge_idempotency_keys_task", "schedule": 3600.0},
}
# One cache for every process, so that the API throttles count across gunicorn workers (a per-process
# cache let 2 workers pass twice the documented rate): Redis when CACHE_URL names it, or else when the
# Celery broker is Redis (the same server, keys under "dermatrack"); the database otherwise (the table
# CACHE_TABLE, made on every `migrate` by clinic.apps, and by Django's test runner in tests).
CACHE_URL = env_str("CACHE_URL")
CACHE_TABLE = "dermatrack_cache"


def cache_config(cache_url: str, broker_url: str) -> dict[str, object]:
    """The default cache: Redis from CACHE_URL or a Redis broker URL, else the database cache."""
    redis_url = cache_url or (broker_url if broker_url.startswith(("redis://", "rediss://")) else "")
    if cache_url and not cache_url.startswith(("redis://", "rediss://", "unix://")):
        raise ImproperlyConfigured("CACHE_URL must be a redis:// (or rediss://, unix://) URL")
    if redis_url:
        return {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": redis_url,
            "KEY_PREFIX": "dermatrack",
        }
    return {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": CACHE_TABLE}


CACHES = {"default": cache_config(CACHE_URL, env_str("CELERY_BROKER_URL"))}

# API Idempotency-Keys are kept this long (hours), then purged (Celery beat hourly, or
# `manage.py purge_idempotency_keys` from cron): a retry within this window is answered with the
# first response; after it, the same key counts as a new request.
IDEMPOTENCY_KEY_TTL_HOURS = env_int("IDEMPOTENCY_KEY_TTL_HOURS", 48)

# Models
ML_WEIGHTS_DIR = Path(env_str("ML_WEIGHTS_DIR", str(BASE_DIR / "ml" / "weights")))
# The model marked default when manifests are registered [the current default, else the ensemble,
# else the first EfficientNet]
ML_DEFAULT_MODEL = env_str("ML_DEFAULT_MODEL")
# Models that analyse new photos (comma-separated names); empty: the default plus every model whose
# manifest's test figures pass QUALITY_BAR (ml/engine/manifest.py).
# The others stay registered (their past predictions keep showing) but are not run.
ML_ACTIVE_MODELS = env_list("ML_ACTIVE_MODELS")
ML_TORCH_THREADS = env_int("ML_TORCH_THREADS", 0)  # 0: leave torch's default
ML_PREDICTION_TIME_LIMIT = env_int("ML_PREDICTION_TIME_LIMIT", 120)
# A prediction still pending this long (its message lost, or the broker was down) is queued again
# by the sweep; one running for twice the time limit (its worker died) is taken over.
ML_PREDICTION_STUCK_AFTER = env_int("ML_PREDICTION_STUCK_AFTER", 120)

# The classifiers were trained on dermoscopic photos: clinical close-ups and overviews are outlined and
# measured but not classified, unless this is on (their analyses then show that the model was not made
# for such photos).
ML_CLASSIFY_CLINICAL_PHOTOS = env_bool("ML_CLASSIFY_CLINICAL_PHOTOS", False)

# Follow-up: flag a lesion when the summed malignant probability (mel + bcc + akiec) rose by
# more than this since the previous analysed visit (0.10 = 10 percentage points).
FOLLOWUP_MALIGNANT_RISE_THRESHOLD = env_float("FOLLOWUP_MALIGNANT_RISE_THRESHOLD", 0.10)
# ... when the lesion's outlined area grew by more than this share against its baseline or previous
# photo (0.20 = 20%), the sizes compared in one frame (the newer photo aligned onto the older);
FOLLOWUP_GROWTH_THRESHOLD = env_float("FOLLOWUP_GROWTH_THRESHOLD", 0.20)
# ... and when an ABCD colour covers at least this share of the lesion now and less than half of it
# before (0.05: the share from which a colour counts as present; measured by benchmarks/followup.py).
FOLLOWUP_NEW_COLOUR_MIN_SHARE = env_float("FOLLOWUP_NEW_COLOUR_MIN_SHARE", 0.05)

# Lesion outlines: the segmentation manifest in ML_WEIGHTS_DIR to use by name (empty: the first one
# found; "none": outline nothing).
ML_SEGMENTATION_MODEL = env_str("ML_SEGMENTATION_MODEL")
# Warn beside the heatmap when less than this share of it lies on the outlined lesion (the model
# looked mostly elsewhere: hair, a ruler, the vignette).
EXPLAIN_CAM_CONCENTRATION_MIN = env_float("EXPLAIN_CAM_CONCENTRATION_MIN", 1.0)
# Millimetres per pixel of a photo that does not carry its own pixel size, per image type (a
# dermatoscope of fixed magnification, say); empty: sizes of such photos are relative.
PIXEL_SIZE_MM_DEFAULTS = {
    image_type: size
    for image_type, size in {
        "dermoscopic": optional_float(env_str("PIXEL_SIZE_MM_DERMOSCOPIC")),
        "clinical_close_up": optional_float(env_str("PIXEL_SIZE_MM_CLINICAL_CLOSE_UP")),
        "clinical_overview": optional_float(env_str("PIXEL_SIZE_MM_CLINICAL_OVERVIEW")),
    }.items()
    if size is not None
}

# FHIR API: a clinic's medical record numbers are sent with the identifier system
# <FHIR_IDENTIFIER_SYSTEM_BASE>/<clinic uuid>/mrn; set it once to a URL of your organisation and keep it.
FHIR_IDENTIFIER_SYSTEM_BASE = env_str("FHIR_IDENTIFIER_SYSTEM_BASE", "http://dermatrack.org/fhir/clinic")

# Client addresses: 0 = the peer address (REMOTE_ADDR) is the client, X-Forwarded-For is ignored;
# N = the app is behind N proxies that each append to X-Forwarded-For (1 for the nginx of the
# README). The audit trail, the login lockout and the API throttles all use this one address.
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "knox.auth.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # DRF's three parsers, JSON with a nesting limit (a deeply nested body is a 400, not a RecursionError)
    "DEFAULT_PARSER_CLASSES": [
        "clinic.parsers.DepthLimitedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 25,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "clinic.api.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.AnonRateThrottle",
        "rest_framework.throttling.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env_str("API_THROTTLE_ANON", "60/min"),
        "user": env_str("API_THROTTLE_USER", "1000/min"),
    },
    # Throttles key anonymous callers by REMOTE_ADDR alone: ClientAddressMiddleware has already
    # resolved it (DRF's own X-Forwarded-For parsing would trust whatever the client sends).
    "NUM_PROXIES": 0,
}
# API tokens (django-rest-knox): one per login, i.e. per device, stored hashed, expiring after
# API_TOKEN_TTL_HOURS; revoked by logging out, and all of a user's by a password change. At most
# API_TOKEN_LIMIT_PER_USER live at once: a new login revokes the user's oldest (clinic.auth). knox's own
# TOKEN_LIMIT_PER_USER would refuse the new login instead, so it stays unset.
API_TOKEN_LIMIT_PER_USER = env_int("API_TOKEN_LIMIT_PER_USER", 10)
REST_KNOX = {
    "TOKEN_TTL": timedelta(hours=env_int("API_TOKEN_TTL_HOURS", 7 * 24)),
    "AUTO_REFRESH": False,
    "AUTH_HEADER_PREFIX": "Token",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "DermaTrack API",
    "DESCRIPTION": "Clinical records and decision-support lesion analysis (not a diagnosis).",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# Login protection (django-axes): after AXES_FAILURE_LIMIT failed logins for one username, or
# from one address, further attempts are refused for AXES_COOLOFF_MINUTES.
# Failures and lockouts are rows in the database (axes' database handler), shared by every process.
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("AXES_COOLOFF_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
# axes' own reset deletes every failure from the address too, so that anyone's good login from
# it would clear the failures against another username: clinic.auth resets the user's own only.
AXES_RESET_ON_SUCCESS = False
AXES_CLIENT_IP_CALLABLE = "clinic.middleware.request_address"
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False

# System-to-system login (django-oauth-toolkit; integrations): OAuth 2.0 client credentials for
# the FHIR API, Bearer tokens valid OAUTH_TOKEN_TTL_SECONDS (no refresh token: a client asks
# again); scopes are SMART v2 system scopes, each client's own (integrations.oauth). A client id
# with OAUTH_CLIENT_FAILURE_LIMIT failed authentications is refused for OAUTH_CLIENT_COOLOFF_MINUTES
# (that client only: users' logins are django-axes' and the two never lock each other out).
OAUTH2_PROVIDER = {
    "ACCESS_TOKEN_EXPIRE_SECONDS": env_int("OAUTH_TOKEN_TTL_SECONDS", 3600),
    "OAUTH2_VALIDATOR_CLASS": "integrations.oauth.ClinicOAuth2Validator",
    "SCOPES_BACKEND_CLASS": "integrations.oauth.SmartScopes",
    # RFC 9700 (OAuth 2.0 Security BCP) throughout, ahead of the toolkit's 4.0 defaults: tokens stored
    # hashed, never accepted in a query string; the grants not served here (implicit, password,
    # authorization code with plain PKCE, http redirects) off even if a client were made for them.
    "COMPLIANT_BCP_RFC9700_IMPLICIT_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PASSWORD_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PKCE_METHOD": True,
    "COMPLIANT_BCP_RFC9700_ACCESS_TOKEN_TRANSPORT": True,
    "COMPLIANT_BCP_RFC9700_AUTHZ_RESPONSE_ISS": True,
    "COMPLIANT_BCP_RFC9700_TOKEN_STORAGE": True,
    "COMPLIANT_BCP_RFC9700_REFRESH_TOKEN": True,
    "REFRESH_TOKEN_REUSE_PROTECTION": True,
    "ALLOWED_REDIRECT_URI_SCHEMES": ["https"],
}
# The toolkit's own models (named here so that integrations' migration can point at the swappable one).
OAUTH2_PROVIDER_APPLICATION_MODEL = "oauth2_provider.Application"
OAUTH_CLIENT_FAILURE_LIMIT = env_int("OAUTH_CLIENT_FAILURE_LIMIT", 5)
OAUTH_CLIENT_COOLOFF = timedelta(minutes=env_int("OAUTH_CLIENT_COOLOFF_MINUTES", 15))

# Audit trail (django-auditlog): changes and reads of patient data, append-only.
AUDITLOG_DISABLE_REMOTE_ADDR = False
AUDITLOG_STORE_JSON_CHANGES = True

# Protected media behind a front proxy: with a prefix set (e.g. "/protected-media/"), file views
# answer with an X-Accel-Redirect to it after the access check instead of streaming the file
# themselves; the proxy maps that internal location to MEDIA_ROOT (see README).
PROTECTED_MEDIA_REDIRECT_PREFIX = env_str("PROTECTED_MEDIA_REDIRECT_PREFIX")

# Content-Security-Policy (django-csp): scripts, styles, images and requests from this site only,
# no inline script. Inline style attributes stay allowed (bar widths, the heatmap blend), <style>
# blocks do not; images may be data: URIs (the API docs' icons).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "style-src-attr": [UNSAFE_INLINE],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 8 * 3600)
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
if PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    X_FRAME_OPTIONS = "DENY"
    SESSION_COOKIE_HTTPONLY = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    # fontTools logs every font subset of a PDF report at INFO.
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "axes": {"level": "WARNING"},
        "fontTools": {"level": "WARNING"},
    },
}
