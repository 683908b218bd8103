"""forkaudit's one settings module: everything is read from environment variables, with embedded-mode defaults.

Unset or empty means "use the default". Every variable is read and checked here, when the settings are loaded, and
every entry point loads them first (auditor/project/startup.py): a value that cannot be used (not a boolean, not an
integer, an unknown choice, not a rate, an unreadable `*_FILE`, a bad URL) stops start-up with a message naming the
variable and what it allows, never a failure at the first request or mid-audit.

Environment variables:

FORKAUDIT_DATA_DIR
    Where forkaudit keeps its database, secret key and caches (and the audits' environments, unless they are in
    memory: see FORKAUDIT_WORK_DIR); created (0700) on start.
    Default: the per-user data directory (`platformdirs.user_data_dir("forkaudit")`, e.g. ~/.local/share/forkaudit).
FORKAUDIT_WORK_DIR
    Where audits build their environments (thousands of files each, deleted when the audit ends); created (0700) on
    start. Default: a private directory in /dev/shm when that is a tmpfs and both it and the machine's memory have
    4 GiB free (installs and deletions there cost a fraction of a disk's), else `<data dir>/work`.
DATABASE_URL
    The database, as a URL (dj-database-url syntax): `postgres://USER:PASSWORD@HOST:PORT/NAME` for PostgreSQL
    (psycopg 3), `sqlite:////absolute/path.sqlite3` for SQLite. Default: SQLite file `forkaudit.sqlite3` in the data
    directory. SQLite runs in WAL mode with IMMEDIATE transactions and a busy timeout, since web and worker processes
    write to it at the same time.
SECRET_KEY, SECRET_KEY_FILE
    Django's secret key, or a file that holds it (not both). Default: a random key generated on first start and
    kept in `<data dir>/secret_key` (mode 0600), so that sessions and tokens survive restarts.
DEBUG
    Django's debug mode (true/false). Default: false.
ALLOWED_HOSTS
    Comma-separated host names the service answers to. Default: localhost,127.0.0.1,[::1].
FORKAUDIT_ALLOW_EXTERNAL_REQUIREMENTS
    Accept requirement options that reach outside the configured indexes (-e, --index-url, --extra-index-url,
    --find-links, file: URLs, local paths, VCS URLs). Default: false.
FORKAUDIT_BUILD_SOURCES
    Build the source distributions of packages that have no usable wheel, in the sandbox (no network). false:
    binary wheels only, and such a package makes the requirements unresolvable. Default: true.
FORKAUDIT_PROBE_TIMEOUT
    Wall-clock limit of one probe, in seconds (1 to 86400). Default: 60.
FORKAUDIT_SANDBOX
    The sandbox that runs package code: `bwrap` (bubblewrap), or `none` (no isolation; only when set explicitly).
    Default: bwrap.
FORKAUDIT_PYTHON
    The interpreter audit environments are built on (its version and platform are the audit's): the path of an
    executable file. Default: the one forkaudit runs on.
FORKAUDIT_LOCAL_MODE
    Single-user local mode (set by `forkaudit serve`, bound to loopback): no accounts; the requests that carry
    FORKAUDIT_LAUNCH_TOKEN (or a session that opened the URL with it) may submit and see audits without owner.
    Default: false.
FORKAUDIT_LAUNCH_TOKEN
    Local mode's secret, made anew by `forkaudit serve` at each start and given to its web server only (at least
    32 characters). Without it nobody has local mode's rights. Default: none.
FORKAUDIT_MAX_UPLOAD_BYTES
    Largest request body accepted (requirements files and wheels together). Default: 100 MiB.
FORKAUDIT_SUBMIT_RATE
    Audit submissions allowed per user, as DRF rates (`N/second|minute|hour|day`, N at least 1). Default: 30/hour.
FORKAUDIT_TRUSTED_PROXIES
    Comma-separated addresses (or networks, `10.0.0.0/8`) of the reverse proxies in front of the web server. Only a
    request that comes from one of them has its client's address taken from `X-Forwarded-For` (the right-most
    address there that is not a trusted proxy); anyone else could write that header. It is what anonymous submissions
    are rate-limited by. Default: none (the address of the connection).
FORKAUDIT_PUBLIC_URL
    The address users reach the service at (`https://forkaudit.example.org`), for the links it hands out to be
    pasted elsewhere (a package's badge snippet). Default: the address of the request.
FORKAUDIT_VULNERABILITY_SERVICE
    Where known vulnerabilities come from: `osv`, `pypi` (PyPI's JSON API), or `none` (no vulnerability data, no
    network). Default: osv.
FORKAUDIT_SEED
    The dataset (a `forkaudit export`, plain or gzip) that a fresh installation loads into its database when it is
    migrated (`serve`, `migrate`; not `forkaudit audit`), once per file; `none` loads nothing. Default: the seed that
    ships with forkaudit (auditor/data/seed.jsonl.gz).
CELERY_BROKER_URL
    The Celery broker: `redis://HOST:PORT/0` (or `rediss://`) in production. Default: kombu's `filesystem://`
    transport under `<data dir>/broker` (no server; one machine only). With Redis it also holds the cache the web
    processes share (the submission rate limit).
CELERY_VISIBILITY_TIMEOUT
    With Redis: seconds after which a task taken by a worker that died is delivered again (at least 60; longer
    than the longest task, or live tasks are delivered twice, which is harmless but wasteful). Default: 3600.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

import dj_database_url
import platformdirs
from django.core.exceptions import ImproperlyConfigured

from auditor.core.vulns import DEFAULT_SERVICE, SERVICES
from auditor.project.env import (
    ensure_directory,
    env_bool,
    env_executable,
    env_int,
    env_list,
    env_rate,
    env_secret,
    env_str,
    env_url,
    persistent_secret,
)

# --- forkaudit ---------------------------------------------------------------------------------------------------

FORKAUDIT_DATA_DIR = ensure_directory(
    "FORKAUDIT_DATA_DIR",
    Path(env_str("FORKAUDIT_DATA_DIR", platformdirs.user_data_dir("forkaudit"))).expanduser(),
)
_work_dir = env_str("FORKAUDIT_WORK_DIR", "")
FORKAUDIT_WORK_DIR = str(ensure_directory("FORKAUDIT_WORK_DIR", Path(_work_dir).expanduser())) if _work_dir else ""
FORKAUDIT_ALLOW_EXTERNAL_REQUIREMENTS = env_bool("FORKAUDIT_ALLOW_EXTERNAL_REQUIREMENTS", False)
FORKAUDIT_BUILD_SOURCES = env_bool("FORKAUDIT_BUILD_SOURCES", True)
FORKAUDIT_PROBE_TIMEOUT = env_int("FORKAUDIT_PROBE_TIMEOUT", 60, minimum=1, maximum=24 * 3600)
FORKAUDIT_SANDBOX = env_str("FORKAUDIT_SANDBOX", "bwrap", choices=("bwrap", "none"))
FORKAUDIT_PYTHON = env_executable("FORKAUDIT_PYTHON")
FORKAUDIT_LOCAL_MODE = env_bool("FORKAUDIT_LOCAL_MODE", False)
FORKAUDIT_LAUNCH_TOKEN = env_str("FORKAUDIT_LAUNCH_TOKEN", "")
if 0 < len(FORKAUDIT_LAUNCH_TOKEN) < 32:
    raise ImproperlyConfigured("FORKAUDIT_LAUNCH_TOKEN is too short to be a secret (at least 32 characters).")
FORKAUDIT_MAX_UPLOAD_BYTES = env_int("FORKAUDIT_MAX_UPLOAD_BYTES", 100 * 2**20, minimum=1024)
FORKAUDIT_SUBMIT_RATE = env_rate("FORKAUDIT_SUBMIT_RATE", "30/hour")
FORKAUDIT_VULNERABILITY_SERVICE = env_str("FORKAUDIT_VULNERABILITY_SERVICE", DEFAULT_SERVICE, choices=SERVICES)
FORKAUDIT_PUBLIC_URL = env_url("FORKAUDIT_PUBLIC_URL", "", schemes={"http", "https"}).rstrip("/")
FORKAUDIT_TRUSTED_PROXIES = env_list("FORKAUDIT_TRUSTED_PROXIES", [])
for _proxy in FORKAUDIT_TRUSTED_PROXIES:
    try:
        ipaddress.ip_network(_proxy, strict=False)
    except ValueError:
        message = f"FORKAUDIT_TRUSTED_PROXIES must list IP addresses or networks; got {_proxy!r}."
        raise ImproperlyConfigured(message) from None
_seed = env_str("FORKAUDIT_SEED", "")
if _seed.lower() == "none":
    FORKAUDIT_SEED = ""
elif _seed:
    if not Path(_seed).expanduser().is_file():
        raise ImproperlyConfigured(f"FORKAUDIT_SEED must be a dataset file or `none`; got {_seed!r} (no such file).")
    FORKAUDIT_SEED = str(Path(_seed).expanduser())
else:
    FORKAUDIT_SEED = str(Path(__file__).resolve().parents[1] / "data" / "seed.jsonl.gz")
DATA_UPLOAD_MAX_MEMORY_SIZE = FORKAUDIT_MAX_UPLOAD_BYTES
FILE_UPLOAD_MAX_MEMORY_SIZE = 10 * 2**20

# --- Django core -------------------------------------------------------------------------------------------------

SECRET_KEY = env_secret("SECRET_KEY") or persistent_secret(FORKAUDIT_DATA_DIR / "secret_key")
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "auditor",
    "webui",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Right after SecurityMiddleware, as whitenoise asks: static files skip the rest of the stack.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # What a request learns of the stored results' version (whether kept names and lists still hold), it asks once.
    "auditor.memo.RequestScopeMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Local mode: the launch URL (`/?token=...`) gives the browser's session the local user's rights.
    "webui.middleware.LaunchTokenMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "auditor.project.urls"
WSGI_APPLICATION = "auditor.project.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database ----------------------------------------------------------------------------------------------------


def _database(url: str | None) -> dict[str, Any]:
    config: dict[str, Any]
    if url is None:
        # Not through a URL: a data directory path may hold characters that URLs treat specially (%, ?, #).
        config = {"ENGINE": "django.db.backends.sqlite3", "NAME": str(FORKAUDIT_DATA_DIR / "forkaudit.sqlite3")}
    else:
        try:
            config = dict(dj_database_url.parse(url, conn_health_checks=True))
        except ValueError as exc:  # dj-database-url's ParseError and UnknownSchemeError
            allowed = "postgres://USER:PASSWORD@HOST:PORT/NAME or sqlite:////absolute/path.sqlite3"
            raise ImproperlyConfigured(f"DATABASE_URL is not usable ({exc}); it must be {allowed}.") from None
    if config["ENGINE"] == "django.db.backends.sqlite3":
        options = config.setdefault("OPTIONS", {})
        # Web, worker and CLI processes write at once: WAL lets readers run beside the writer, IMMEDIATE takes the
        # write lock when a transaction starts (so waiting uses the busy timeout instead of failing on upgrade).
        options.setdefault("transaction_mode", "IMMEDIATE")
        options.setdefault("timeout", 20)
        options.setdefault(
            "init_command",
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=20000;",
        )
        # Tests run on a file too, not Django's shared-cache in-memory database: that one answers concurrent
        # writers with "table is locked" instead of waiting, so it would not test the mode used in production.
        config.setdefault("TEST", {}).setdefault("NAME", str(FORKAUDIT_DATA_DIR / "test-forkaudit.sqlite3"))
    return config


DATABASES = {"default": _database(env_str("DATABASE_URL", "") or None)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Authentication, internationalisation ------------------------------------------------------------------------

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LOGIN_URL = "/accounts/login/"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static files ------------------------------------------------------------------------------------------------

STATIC_URL = "static/"
# Created up front: whitenoise warns at every start about a missing STATIC_ROOT.
STATIC_ROOT = ensure_directory("FORKAUDIT_DATA_DIR", FORKAUDIT_DATA_DIR / "static")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Not the manifest storage: the embedded mode runs without `collectstatic`, where a missing manifest entry
    # would turn every page into a 500.
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# The embedded mode serves the apps' static folders directly; `collectstatic` into STATIC_ROOT is optional.
WHITENOISE_USE_FINDERS = True

# --- API ---------------------------------------------------------------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # Token first: DRF answers a failed authentication with the first class's WWW-Authenticate header, and only
    # with such a header is it a 401 rather than a 403. Sessions serve the docs page and the web UI's scripts.
    # Both also take local mode's launch token or session (auditor/api/authentication.py).
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "auditor.api.authentication.LaunchTokenAuthentication",
        "auditor.api.authentication.LaunchSessionAuthentication",
    ],
    # Each view states who may use it (auditor/api/views.py); reads of packages are public.
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # DRF's JSON parser, but a body nested too deeply for the json module is a 400 rather than a 500.
    "DEFAULT_PARSER_CLASSES": ["auditor.api.parsers.JSONParser", "rest_framework.parsers.MultiPartParser"],
    "EXCEPTION_HANDLER": "auditor.api.errors.exception_handler",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "forkaudit API",
    "DESCRIPTION": (
        "Audit Python dependency sets for packages that start threads, processes or sockets on import. "
        "Writes need a token (`Authorization: Token <key>`, from `forkaudit token create NAME`); package data is "
        "public; an audit is visible only to its submitter and to staff. Every error is JSON: "
        '`{"detail": "<message>", "code": "<code>"}`.'
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    # File fields become `format: binary` in request bodies only when requests and responses are split.
    "COMPONENT_SPLIT_REQUEST": True,
    # The docs page works offline: Swagger UI is served from drf-spectacular-sidecar's static files, not a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}
# The sidecar is an app only so that the static files finders serve Swagger UI.
INSTALLED_APPS.append("drf_spectacular_sidecar")

# --- Celery --------------------------------------------------------------------------------------------------------

# Redis or the embedded broker only: the settings below put the shared cache beside any other broker, on Redis.
CELERY_BROKER_URL = env_url("CELERY_BROKER_URL", "filesystem://", schemes=("filesystem", "redis", "rediss"))
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker = FORKAUDIT_DATA_DIR / "broker"
    # kombu's filesystem transport does not create its folders, processed_folder included.
    for _folder in ("queue", "processed", "control"):
        ensure_directory("FORKAUDIT_DATA_DIR", _broker / _folder)
    CELERY_BROKER_TRANSPORT = "auditor.filebroker:Transport"  # kombu's, with messages that appear whole
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker / "queue"),
        "data_folder_out": str(_broker / "queue"),
        "processed_folder": str(_broker / "processed"),
        "control_folder": str(_broker / "control"),  # else kombu writes it into the current directory
        # How often an idle worker looks for a task (kombu's default: every second, a second added to every audit).
        "polling_interval": 0.1,
        "store_processed": False,
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600, minimum=60)}
    # Counters that every web process must share (the submission rate limit) live beside the broker.
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CELERY_BROKER_URL}}
CELERY_TASK_ACKS_LATE = True  # a task whose worker dies is delivered again (tasks are idempotent)
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1  # long tasks: do not hoard them on one worker
CELERY_TASK_IGNORE_RESULT = True  # results live in the database
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
