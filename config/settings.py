"""Settings of the selfcare portal: read once from the environment (see ``config/env.py``).

The defaults are the *embedded* ones — SQLite under ``var/``, a filesystem Celery broker, e-mail to
files — so ``make run`` needs no server. Production differs only by environment values
(``DATABASE_URL``, ``CELERY_BROKER_URL``, ``CACHE_URL``, ``DJANGO_DEBUG=false``…), never by code
paths the tests cannot reach. The README lists every variable.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import secrets
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_int, env_list, env_secret, env_str
from config.ratelimits import RATE_LIMITS  # noqa: F401  (re-exported as a setting)
from config.secrets import SEPARATE_SECRETS, secrets_problems

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("VAR_DIR", str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env_bool("DJANGO_DEBUG", False)


def _secret_key() -> str:
    key = env_secret("DJANGO_SECRET_KEY")
    if key:
        if len(key) < 50:
            raise ImproperlyConfigured("DJANGO_SECRET_KEY must be at least 50 characters")
        return key
    if not DEBUG:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY (or DJANGO_SECRET_KEY_FILE) is required when DEBUG is off")
    # Embedded default: a random key kept under var/, never in the repository.
    path = VAR_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(64), encoding="utf-8")
        path.chmod(0o600)
    return path.read_text(encoding="utf-8").strip()


SECRET_KEY = _secret_key()

# The separate secrets (config/secrets.py says what each protects). With DEBUG on each falls back to
# a value derived from the secret key, so `make run` needs nothing; the names of those that did are
# kept here, and with DEBUG off any of them stops the process (checked once all are read, below).
DERIVED_SECRETS: list[str] = []


def _separate_secret(name: str, purpose: str) -> str:
    value = env_secret(name)
    if value:
        return value
    DERIVED_SECRETS.append(name)
    return f"{purpose}:{SECRET_KEY}"


def _key_map(name: str, purpose: str) -> dict[str, str]:
    """``"id:base64,id2:base64"`` (32-byte AES keys); in development one key derived from SECRET_KEY."""
    raw = env_secret(name)
    if not raw:
        DERIVED_SECRETS.append(name)
        derived = hashlib.sha256(f"{purpose}:{SECRET_KEY}".encode()).digest()
        return {"default": base64.b64encode(derived).decode()}
    keys: dict[str, str] = {}
    for item in raw.split(","):
        key_id, sep, value = item.strip().partition(":")
        if not sep or not key_id or not value:
            raise ImproperlyConfigured(f"{name} must look like 'id:base64key,id2:base64key'")
        try:
            if len(base64.b64decode(value, validate=True)) != 32:
                raise ValueError
        except ValueError as exc:
            raise ImproperlyConfigured(f"{name}: key {key_id!r} is not 32 bytes of base64") from exc
        keys[key_id] = value
    return keys


ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])
if not ALLOWED_HOSTS:
    raise ImproperlyConfigured("DJANGO_ALLOWED_HOSTS is required when DEBUG is off")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])
# Public base URL, used in links sent by e-mail.
SITE_URL = env_str("SITE_URL", "http://127.0.0.1:8000")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.forms",  # the built-in widget templates, for FORM_RENDERER below
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "oauth2_provider",
    "django_recaptcha",
    "core",
    "accounts",
    "audit",
    "certificates",
    "otp",
    "signing",
    "renewal",
    "notifications",
    "portal",
]

MIDDLEWARE = [
    "core.request_id.RequestIdMiddleware",
    # First, so the time it measures includes every other middleware (core/metrics.py).
    "core.metrics.RequestMetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "config.middleware.ContentSecurityPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "config.middleware.PortalLanguageMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "config.middleware.PrivatePagesNotCachedMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "accounts.middleware.SessionLifetimeMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "config.middleware.KeyVaultUnavailableMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ADMIN_URL = env_str("DJANGO_ADMIN_URL", "admin/")
if not ADMIN_URL.endswith("/") or ADMIN_URL.startswith("/"):
    raise ImproperlyConfigured("DJANGO_ADMIN_URL must look like 'path/' (no leading slash, trailing slash)")

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

# --- Database -------------------------------------------------------------------------------------
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
        # Kept open between requests: opening one cost each page more than its queries (bench_load:
        # the bare view, logged in, 430 → 2,170 requests/s on SQLite); checked before reuse.
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60, minimum=0),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not :memory:, so that a real Celery worker process in the integration tests sees
    # the same test database as the test itself.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-db.sqlite3")}
    # Writers take the lock when their transaction begins (and wait up to 20 s for it) instead of
    # failing with "database is locked" when a read turns into a write; WAL lets readers go on.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        timeout=20, transaction_mode="IMMEDIATE", init_command="PRAGMA journal_mode=WAL;"
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Caches (rate limits live here) -----------------------------------------------------------------
CACHE_URL = env_str("CACHE_URL")
if CACHE_URL:
    if not CACHE_URL.startswith(("redis://", "rediss://")):
        raise ImproperlyConfigured("CACHE_URL must be a redis:// or rediss:// URL")
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL}}
else:
    # Embedded default: one process, in-memory. Use Redis as soon as there is more than one process.
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Authentication -------------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = ["django.contrib.auth.backends.ModelBackend"]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "panel:profile"
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "accounts.validators.OrganizationMinimumLengthValidator"},
    {"NAME": "accounts.validators.MaximumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Platform default for accounts without an organization (platform admins); organizations set their own.
PASSWORD_MIN_LENGTH = env_int("PASSWORD_MIN_LENGTH", 12, minimum=8, maximum=128)

# --- Sessions and cookies -------------------------------------------------------------------------
# Idle timeout: the session's server-side expiry is pushed as requests come (at most once a minute:
# accounts/middleware.py), so it expires after this much inactivity (ASVS 3.3.2). The absolute
# lifetime caps a session however active it is.
SESSION_COOKIE_AGE = env_int("SESSION_IDLE_TIMEOUT_SECONDS", 15 * 60, minimum=60)
SESSION_ABSOLUTE_LIFETIME_SECONDS = env_int("SESSION_ABSOLUTE_LIFETIME_SECONDS", 8 * 3600, minimum=300)
SESSION_ENGINE = "accounts.sessions"
SESSION_SAVE_EVERY_REQUEST = False
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True
CSRF_COOKIE_SAMESITE = "Lax"
CSRF_FAILURE_VIEW = "accounts.views.errors.csrf_failure"

# --- Transport security (on by default whenever DEBUG is off) -------------------------------------
_secure_default = not DEBUG
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", _secure_default)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", _secure_default)
if SESSION_COOKIE_SECURE:
    # __Host- cookies are refused by browsers unless Secure, Path=/ and host-only: no subdomain
    # can plant or read them.
    SESSION_COOKIE_NAME = "__Host-sessionid"
if CSRF_COOKIE_SECURE:
    CSRF_COOKIE_NAME = "__Host-csrftoken"
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", _secure_default)
# CRLs, OCSP answers and CA certificates are signed objects that relying parties fetch over plain
# HTTP (RFC 5280 §4.2.1.13, RFC 6960 App. A: https would make validation depend on validating TLS).
SECURE_REDIRECT_EXEMPT = [r"^ca/"]
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000 if _secure_default else 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", _secure_default)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", _secure_default)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if env_bool("TRUST_X_FORWARDED_PROTO", False):
    # Only behind a proxy that always sets (and strips client-sent) X-Forwarded-Proto.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; object-src 'none'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
)
DATA_UPLOAD_MAX_NUMBER_FIELDS = 200
# Widgets render through TEMPLATES, so templates/ can override a library's widget (the reCAPTCHA one
# carries an inline script our CSP forbids).
FORM_RENDERER = "django.forms.renderers.TemplatesSetting"

# --- Internationalization -------------------------------------------------------------------------
LANGUAGE_CODE = "it"
LANGUAGES = [("it", "Italiano"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
LANGUAGE_COOKIE_SECURE = SESSION_COOKIE_SECURE
LANGUAGE_COOKIE_HTTPONLY = True
LANGUAGE_COOKIE_SAMESITE = "Lax"
TIME_ZONE = "Europe/Rome"
USE_I18N = True
USE_TZ = True

# --- Static files ---------------------------------------------------------------------------------
STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(VAR_DIR / "staticfiles")))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # WhiteNoise warns at start about a missing directory
WHITENOISE_USE_FINDERS = DEBUG
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # In production: hashed, compressed files collected by `collectstatic`, cached forever by browsers.
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# --- E-mail ---------------------------------------------------------------------------------------
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.filebased.EmailBackend")
EMAIL_FILE_PATH = env_str("EMAIL_FILE_PATH", str(VAR_DIR / "mail"))
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1, maximum=65535)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_secret("EMAIL_HOST_PASSWORD") or ""
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Firma remota <no-reply@localhost>")

# --- Notifications ---------------------------------------------------------------------
# SMS backend, like EMAIL_BACKEND: FileSmsBackend (embedded default, var/sms/), ConsoleSmsBackend,
# LocmemSmsBackend (tests), or notifications.backends.twilio.TwilioSmsBackend in production.
SMS_BACKEND = env_str("SMS_BACKEND", "notifications.backends.sms.FileSmsBackend")
SMS_FILE_PATH = env_str("SMS_FILE_PATH", str(VAR_DIR / "sms"))
# Ask the provider to report delivery to /notifiche/twilio/stato/ (needs a public SITE_URL).
SMS_STATUS_CALLBACK = env_bool("SMS_STATUS_CALLBACK", False)
TWILIO_ACCOUNT_SID = env_str("TWILIO_ACCOUNT_SID", "")
TWILIO_AUTH_TOKEN = env_secret("TWILIO_AUTH_TOKEN") or ""
TWILIO_FROM = env_str("TWILIO_FROM", "")  # a sender number (+39…) or a Messaging Service SID (MG…)
# Only tests point this elsewhere (a local stub of the Messages API); never the internet in tests.
TWILIO_API_BASE_URL = env_str("TWILIO_API_BASE_URL", "https://api.twilio.com")
EMAIL_MESSAGE_ID_DOMAIN = env_str("EMAIL_MESSAGE_ID_DOMAIN", "firma-remota.invalid")
# The developer mailbox (/sviluppo/posta/) lists what was sent, codes included: DEBUG only, fixed
# at start (the test runner turns DEBUG off at run time, the embedded instance keeps it).
DEVELOPER_MAILBOX = DEBUG
# Key that seals message bodies carrying a secret until they are sent (see notifications/sealing.py).
NOTIFICATIONS_SEAL_KEY = _separate_secret("NOTIFICATIONS_SEAL_KEY", "seal")
NOTIFICATIONS_MAX_ATTEMPTS = env_int("NOTIFICATIONS_MAX_ATTEMPTS", 6, minimum=1, maximum=20)
NOTIFICATIONS_RETRY_BASE_SECONDS = env_int("NOTIFICATIONS_RETRY_BASE_SECONDS", 30, minimum=0)
NOTIFICATIONS_RETRY_MAX_SECONDS = env_int("NOTIFICATIONS_RETRY_MAX_SECONDS", 3600, minimum=0)
# A message left "sending" or "queued" this long is handed back to a worker by the sweeper.
NOTIFICATIONS_STALE_SECONDS = env_int("NOTIFICATIONS_STALE_SECONDS", 300, minimum=1)

# --- OTP devices ------------------------------------------------------------------------
# Seeds are encrypted with AES-256-GCM. OTP_SEED_KEYS: "id:base64key,id2:base64key" (32-byte keys);
# OTP_SEED_KEY_ID: the id used for new seeds. Development default: one key derived from the secret key.
OTP_SEED_KEYS = _key_map("OTP_SEED_KEYS", "otp-seed")
OTP_SEED_KEY_ID = env_str("OTP_SEED_KEY_ID", next(iter(OTP_SEED_KEYS)))
if OTP_SEED_KEY_ID not in OTP_SEED_KEYS:
    raise ImproperlyConfigured("OTP_SEED_KEY_ID must name one of the keys in OTP_SEED_KEYS")
# Consecutive wrong codes before a device is locked.
OTP_MAX_FAILURES = env_int("OTP_MAX_FAILURES", 10, minimum=3, maximum=50)

# Passkeys and security keys of operators and administrators (WebAuthn). A credential is bound to
# the relying party ID, a host name (never an IP address): in production set it to the public name
# of the service, and the origins to the https:// URL(s) the console is served from. Unset, the host
# of the request is used (development: http://localhost:8000 works; 127.0.0.1 does not).
WEBAUTHN_RP_ID = env_str("WEBAUTHN_RP_ID", "") or ""
WEBAUTHN_ORIGINS = env_list("WEBAUTHN_ORIGINS", [])
WEBAUTHN_RP_NAME = env_str("WEBAUTHN_RP_NAME", "Firma remota") or "Firma remota"
# How long an invitation or a second-factor reset link stays valid.
STAFF_ENROLMENT_LINK_HOURS = env_int("STAFF_ENROLMENT_LINK_HOURS", 72, minimum=1, maximum=336)

# The expiry-reminder index carries INCLUDE columns for PostgreSQL's index-only scans; SQLite (the
# embedded default) ignores them, which is fine there.
SILENCED_SYSTEM_CHECKS = ["models.W040"]

# --- reCAPTCHA (password and username recovery) --------------------------------------------------
# The keys of the site at Google. Without them (DEBUG only) Google's published test keys are used:
# the box is shown and every check passes, which is what a developer needs and nothing more.
RECAPTCHA_PUBLIC_KEY = env_secret("RECAPTCHA_PUBLIC_KEY") or ""
RECAPTCHA_PRIVATE_KEY = env_secret("RECAPTCHA_PRIVATE_KEY") or ""
if not (RECAPTCHA_PUBLIC_KEY and RECAPTCHA_PRIVATE_KEY):
    if not DEBUG:
        raise ImproperlyConfigured("RECAPTCHA_PUBLIC_KEY and RECAPTCHA_PRIVATE_KEY are required when DEBUG is off")
    from django_recaptcha.constants import TEST_PRIVATE_KEY, TEST_PUBLIC_KEY

    RECAPTCHA_PUBLIC_KEY, RECAPTCHA_PRIVATE_KEY = TEST_PUBLIC_KEY, TEST_PRIVATE_KEY
    SILENCED_SYSTEM_CHECKS.append("django_recaptcha.recaptcha_test_key_error")
# "www.recaptcha.net" where www.google.com is not reachable.
RECAPTCHA_DOMAIN = env_str("RECAPTCHA_DOMAIN", "www.google.com")
RECAPTCHA_VERIFY_REQUEST_TIMEOUT = env_int("RECAPTCHA_VERIFY_REQUEST_TIMEOUT", 5, minimum=1, maximum=30)
# Only the pages that show the box may load Google's script and frame; every other page keeps 'self'.
CAPTCHA_CONTENT_SECURITY_POLICY = CONTENT_SECURITY_POLICY.replace(
    "script-src 'self'", f"script-src 'self' https://{RECAPTCHA_DOMAIN}/recaptcha/ https://www.gstatic.com/recaptcha/"
).replace("object-src", f"frame-src https://{RECAPTCHA_DOMAIN}/recaptcha/; object-src")

# --- Prometheus metrics (/metrics; docs/metrics.md) ------------------------------------------------
# Who may scrape: these addresses or networks (REMOTE_ADDR, as everywhere in the project), or anyone
# with "Authorization: Bearer <METRICS_TOKEN>". Everyone else gets the site's plain 404.
METRICS_ALLOWED_IPS = env_list("METRICS_ALLOWED_IPS", ["127.0.0.1", "::1"])
for _network in METRICS_ALLOWED_IPS:
    try:
        ipaddress.ip_network(_network, strict=False)
    except ValueError as _exc:
        raise ImproperlyConfigured(f"METRICS_ALLOWED_IPS: {_network!r} is not an IP address or network") from _exc
METRICS_TOKEN = env_secret("METRICS_TOKEN") or ""
if METRICS_TOKEN and len(METRICS_TOKEN) < 32:
    raise ImproperlyConfigured("METRICS_TOKEN must be at least 32 characters long")
# The figures read from the database and the broker are computed at most once per this many seconds.
METRICS_CACHE_SECONDS = env_int("METRICS_CACHE_SECONDS", 15, minimum=0, maximum=300)
# prometheus-client's multiprocess mode (gunicorn workers, Celery worker processes): the library reads
# the variable itself at import; it is read here too, to check it and to collect from that directory.
METRICS_MULTIPROCESS_DIR = env_str("PROMETHEUS_MULTIPROC_DIR", "") or ""
if METRICS_MULTIPROCESS_DIR and not Path(METRICS_MULTIPROCESS_DIR).is_dir():
    raise ImproperlyConfigured("PROMETHEUS_MULTIPROC_DIR must name an existing directory")

# --- Certificate authority and key custody --------------------------------------------
# Key-encryption keys of the software key vault (certificates/vault.py): every data key — of the
# CA and of the holders — is wrapped by CA_KEK_KEYS[CA_KEK_KEY_ID]; rows remember their id, so a new
# id plus `manage.py ca_rotate_kek` rotates without downtime.
CA_KEK_KEYS = _key_map("CA_KEK_KEYS", "ca-kek")
CA_KEK_KEY_ID = env_str("CA_KEK_KEY_ID", next(iter(CA_KEK_KEYS)))
if CA_KEK_KEY_ID not in CA_KEK_KEYS:
    raise ImproperlyConfigured("CA_KEK_KEY_ID must name one of the keys in CA_KEK_KEYS")
# Mixed into every PIN before the KDF: a stolen database alone does not allow guessing PINs offline.
CA_PIN_PEPPER = _separate_secret("CA_PIN_PEPPER", "ca-pin-pepper")
# Argon2id cost of the PIN-derived key (RFC 9106 second recommended option, memory in KiB). The
# parameters are stored with each wrapped key, so raising them later does not break existing PINs.
CA_PIN_KDF_COST = {
    "time_cost": env_int("CA_PIN_KDF_TIME_COST", 3, minimum=1, maximum=20),
    "memory_cost": env_int("CA_PIN_KDF_MEMORY_KIB", 65536, minimum=8, maximum=4 * 1024 * 1024),
    "parallelism": env_int("CA_PIN_KDF_PARALLELISM", 1, minimum=1, maximum=16),
}
# Where private keys live: "certificates.vault.SoftwareKeyVault" (envelope encryption in the
# database, the development default) or "certificates.hsm.Pkcs11KeyVault" (generated and used inside
# a PKCS#11 device; design in certificates/hsm.py). The device: its PKCS#11 module, the token's label
# and the token's user PIN (CA_HSM_PIN_FILE in production), and the id of the current wrapping key
# of holder keys (a new id plus `manage.py ca_rotate_kek` rotates it).
CA_KEY_VAULT_BACKEND = env_str("CA_KEY_VAULT_BACKEND", "certificates.vault.SoftwareKeyVault")
CA_HSM_MODULE = env_str("CA_HSM_MODULE", "/usr/lib/softhsm/libsofthsm2.so")
CA_HSM_TOKEN_LABEL = env_str("CA_HSM_TOKEN_LABEL", "firma-remota")
CA_HSM_PIN = env_secret("CA_HSM_PIN") or ""
CA_HSM_WRAPPING_KEY_ID = env_str("CA_HSM_WRAPPING_KEY_ID", "1")
# Base of the URLs written into certificates (CRL distribution point, OCSP, caIssuers). They are
# published forever in every certificate: change it only together with a new CA.
CA_PUBLIC_URL = (env_str("CA_PUBLIC_URL", SITE_URL) or "").rstrip("/")
# The CA's own name (subject O of the root, issuing, OCSP and TSA certificates).
CA_ORGANIZATION_NAME = env_str("CA_ORGANIZATION_NAME", "Firma Remota Trust Service (development)")
# The certificate policy of holder certificates. The default is a PLACEHOLDER arc under the IANA
# private-enterprise tree (1.3.6.1.4.1): a trust service sets its own registered OID here.
CA_POLICY_OID = env_str("CA_POLICY_OID", "1.3.6.1.4.1.99999.1.1.1")
# A published CRL is valid this long; the beat job publishes a new one well before (at half-life).
CA_CRL_VALIDITY_HOURS = env_int("CA_CRL_VALIDITY_HOURS", 24, minimum=1, maximum=24 * 10)
CA_ROOT_CRL_VALIDITY_DAYS = env_int("CA_ROOT_CRL_VALIDITY_DAYS", 30, minimum=1, maximum=365)
# An OCSP answer may be cached by relying parties this long (nextUpdate).
CA_OCSP_VALIDITY_MINUTES = env_int("CA_OCSP_VALIDITY_MINUTES", 60, minimum=1, maximum=24 * 60)
# A real OCSP request is a few hundred bytes; anything much larger is refused unread.
CA_OCSP_MAX_REQUEST_BYTES = env_int("CA_OCSP_MAX_REQUEST_BYTES", 8192, minimum=512, maximum=65536)

# --- Signing -------------------------------------------------------------------------
# A signature activation (SAD) lives this long after PIN + OTP; SCAL2 practice is minutes, never more than 5.
SIGNING_SAD_LIFETIME_SECONDS = env_int("SIGNING_SAD_LIFETIME_SECONDS", 300, minimum=30, maximum=300)
# CSC credentials/extendTransaction gives an open activation a new SAD and a new expiry, but never past
# this long after the holder's PIN + OTP: then they must authorize again (the SAD's "few minutes" of
# the activation rules stay bounded however often a client extends).
SIGNING_SAD_MAX_TOTAL_SECONDS = env_int("SIGNING_SAD_MAX_TOTAL_SECONDS", 900, minimum=30, maximum=3600)
# Signatures one activation may authorize: the limit the signing service enforces, the CSC
# ``multisign`` value and the longest list of hashes or documents the APIs accept. SIGNING_BATCH_LIMIT
# is its former name, deprecated: still read from the environment when the new name is not set.
SIGNING_MAX_SIGNATURES_PER_ACTIVATION = env_int(
    "SIGNING_MAX_SIGNATURES_PER_ACTIVATION",
    env_int("SIGNING_BATCH_LIMIT", 1000, minimum=1, maximum=10000),
    minimum=1,
    maximum=10000,
)
# Used activations keep their row (no key material) this long for the history, then are deleted.
SIGNING_ACTIVATION_RETENTION_DAYS = env_int("SIGNING_ACTIVATION_RETENTION_DAYS", 30, minimum=1, maximum=3650)
# An external RFC 3161 TSA for B-T and above; empty: the internal TSA (signing/tsa.py), in process.
SIGNING_TSA_URL = env_str("SIGNING_TSA_URL", "") or ""
SIGNING_TSA_TIMEOUT_SECONDS = env_int("SIGNING_TSA_TIMEOUT_SECONDS", 10, minimum=1, maximum=60)
# A TimeStampReq is about a hundred bytes; the public /tsa/ endpoint reads no more than this.
SIGNING_TSA_MAX_REQUEST_BYTES = env_int("SIGNING_TSA_MAX_REQUEST_BYTES", 4096, minimum=256, maximum=65536)

# --- PDF intake (panel signing, batch API, validation) ---------------------------------------------
# Checked by signing/pdf_input.py before anything is signed. 200 one-page exam records of a session
# are ~10 MB in all; a 10 MB file is a long scanned document. The reverse proxy's body limit must be
# at least SIGNING_MAX_BATCH_BYTES plus the form overhead.
SIGNING_MAX_FILE_BYTES = env_int("SIGNING_MAX_FILE_BYTES", 10 * 1024 * 1024, minimum=1024)
SIGNING_MAX_BATCH_FILES = env_int("SIGNING_MAX_BATCH_FILES", 200, minimum=1, maximum=10_000)
SIGNING_MAX_BATCH_BYTES = env_int("SIGNING_MAX_BATCH_BYTES", 100 * 1024 * 1024, minimum=1024)
# Django refuses a request with more files than this before any view runs (a 400): one more than a
# batch, so that "too many files" up to that point gets the form's own message.
DATA_UPLOAD_MAX_NUMBER_FILES = SIGNING_MAX_BATCH_FILES + 1
# The work one file may cost before it is refused (signing/pdf_scan.py says how each is counted). A
# 370-page tagged PDF (a thesis, WeasyPrint) inflates to 17 MB, writes 1.9 million objects (100,000
# of them in one object stream), its largest 460 KB, 4 levels deep; it is checked in about 2 s on
# this shared 2-core VM. The bounds leave room above that and stay far below what stalls a worker:
# 128 MiB inflate in well under a second; the seconds are counted inside pyHanko's reading too, so
# the object size bounds the memory and the work of the signing that follows; 64 levels are a tenth
# of Python's recursion limit, which pyHanko's reader and writer reach at a few hundred. Per file.
SIGNING_PDF_MAX_DECOMPRESSED_BYTES = env_int(
    "SIGNING_PDF_MAX_DECOMPRESSED_BYTES", 128 * 1024 * 1024, minimum=1024 * 1024
)
SIGNING_PDF_MAX_OBJECT_BYTES = env_int("SIGNING_PDF_MAX_OBJECT_BYTES", 1024 * 1024, minimum=64 * 1024)
SIGNING_PDF_MAX_OBJECTS = env_int("SIGNING_PDF_MAX_OBJECTS", 3_000_000, minimum=1000)
SIGNING_PDF_MAX_DEPTH = env_int("SIGNING_PDF_MAX_DEPTH", 64, minimum=8, maximum=200)
SIGNING_PDF_MAX_SECONDS = env_int("SIGNING_PDF_MAX_SECONDS", 3, minimum=1, maximum=60)

# --- Celery ---------------------------------------------------------------------------------------
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://")
if CELERY_BROKER_URL == "filesystem://":
    _broker_dir = VAR_DIR / "celery" / "broker"
    _broker_dir.mkdir(parents=True, exist_ok=True)
    (VAR_DIR / "celery" / "processed").mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir),
        "data_folder_out": str(_broker_dir),
        "processed_folder": str(VAR_DIR / "celery" / "processed"),
        "control_folder": str(VAR_DIR / "celery" / "control"),
        "store_processed": False,
        # The folder is polled (kombu's default: every second); a signing job or an e-mail should
        # not wait for the next poll. Ten polls a second of one directory cost nothing measurable.
        "polling_interval": 0.1,
    }
elif not CELERY_BROKER_URL.startswith(("redis://", "rediss://", "amqp://")):
    raise ImproperlyConfigured("CELERY_BROKER_URL must be filesystem://, redis:// or amqp://")
# Queues by urgency, each served by workers of its own (README "Deploying"): one-time codes and
# security notices never wait behind a 1,000-document signing job or a nightly fan-out.
#   messages — delivery of the outbox (codes, security notices, every e-mail and SMS);
#   signing  — batch signing jobs (a worker with --prefetch-multiplier 1: one job at a time each);
#   default  — scheduled jobs and everything else.
# The prefix lets several installations (or test runs) share one broker without taking each
# other's tasks; config/celery.py routes by task name.
CELERY_QUEUE_PREFIX = env_str("CELERY_QUEUE_PREFIX", "")
CELERY_QUEUES_BY_URGENCY = ("messages", "signing", "default")
CELERY_TASK_DEFAULT_QUEUE = f"{CELERY_QUEUE_PREFIX}default"
CELERY_TASK_ROUTES = ("config.celery.task_route",)
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = False
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_TIMEZONE = TIME_ZONE

# --- Audit ----------------------------------------------------------------------------------------
# The audit chain is an HMAC chain: someone who can write to the database but does not hold this
# key cannot rebuild a valid chain after editing a row.
AUDIT_CHAIN_KEY = _separate_secret("AUDIT_CHAIN_KEY", "audit-chain")
# Where the hourly checkpoints of the chain head are appended (portal/checkpoints.py): put it on storage
# the database's credentials cannot rewrite, or ship it with the logs.
AUDIT_CHECKPOINT_FILE = Path(env_str("AUDIT_CHECKPOINT_FILE", str(VAR_DIR / "audit" / "checkpoints.jsonl")))

# Every separate secret is read by now: in production each must be explicit and distinct.
if not DEBUG:
    _secret_problems = secrets_problems(
        secret_key=SECRET_KEY,
        values={name: globals()[name] for name in SEPARATE_SECRETS},
        derived=DERIVED_SECRETS,
    )
    if _secret_problems:
        raise ImproperlyConfigured(
            "the server's secrets are not separate — " + "; ".join(_secret_problems)
            + " (python -m config.secrets --dir DIR generates a complete set)"
        )

# --- REST framework and the APIs for organization systems -------------------------------
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["signing.api.parsers.LimitedJSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # One handler for every API: domain errors to HTTP, and the CSC error form under /csc/.
    "EXCEPTION_HANDLER": "signing.api.exceptions.api_exception_handler",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Firma remota – API",
    "VERSION": "0.1.0",
    "DESCRIPTION": (
        "APIs for the systems of an organization: the Cloud Signature Consortium API (v1 and v2) and the "
        "exam-records batch API. Authenticate with OAuth 2.0 client credentials at /oauth2/token."
    ),
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI from the sidecar package (local static files, no CDN); the split view serves its
    # initialisation as a script file, so the page needs no inline script under our CSP.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SERVE_PUBLIC": True,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "ENUM_NAME_OVERRIDES": {"DigestAlgorithmOidEnum": "signing.api.csc.algorithms.DIGEST_OIDS"},
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "signing.api.schema.oauth_paths",
    ],
}
# Access tokens of API clients are short-lived: a leaked token is worth minutes, and revoking a
# client (which deletes its tokens) is immediate anyway.
API_ACCESS_TOKEN_SECONDS = env_int("API_ACCESS_TOKEN_SECONDS", 600, minimum=60, maximum=3600)
# The scopes an organization admin may grant an API client, one per function.
API_SCOPES = {
    "csc": "CSC API: credentials and signatures",
    "batch": "Exam-records batch signing",
    "validation": "Signature validation",
}
# django-oauth-toolkit's own models; named here because migrations resolve swappable models from settings.
OAUTH2_PROVIDER_APPLICATION_MODEL = "oauth2_provider.Application"
OAUTH2_PROVIDER_ACCESS_TOKEN_MODEL = "oauth2_provider.AccessToken"
OAUTH2_PROVIDER_REFRESH_TOKEN_MODEL = "oauth2_provider.RefreshToken"
OAUTH2_PROVIDER_ID_TOKEN_MODEL = "oauth2_provider.IDToken"
OAUTH2_PROVIDER_GRANT_MODEL = "oauth2_provider.Grant"
OAUTH2_PROVIDER = {
    "ACCESS_TOKEN_EXPIRE_SECONDS": API_ACCESS_TOKEN_SECONDS,
    "SCOPES": API_SCOPES,
    "DEFAULT_SCOPES": ["__all__"],  # resolved per client by the scopes backend below
    "SCOPES_BACKEND_CLASS": "accounts.oauth.ApiClientScopes",
    "OAUTH2_VALIDATOR_CLASS": "accounts.oauth.ApiClientOAuth2Validator",
    "OAUTH2_BACKEND_CLASS": "accounts.oauth.FormOrJsonOAuthLibCore",
    # Client secrets are stored as password hashes (Argon2, PASSWORD_HASHERS[0]), never in clear.
    "CLIENT_SECRET_HASHER": "default",
    "PKCE_REQUIRED": True,
    "REFRESH_TOKEN_REUSE_PROTECTION": True,
    "ALLOWED_REDIRECT_URI_SCHEMES": ["https"],
    # Every RFC 9700 (OAuth 2.0 Security BCP) safeguard on. Only client credentials are used, so most
    # only close doors; TOKEN_STORAGE keeps access tokens as a SHA-256 checksum, never the bearer value.
    **{
        f"COMPLIANT_BCP_RFC9700_{flag}": True
        for flag in (
            "ACCESS_TOKEN_TRANSPORT", "AUTHZ_RESPONSE_ISS", "IMPLICIT_GRANT", "PASSWORD_GRANT", "PKCE_METHOD",
            "PKCE_REQUIRED", "REDIRECT_URI_MATCHING", "REDIRECT_URI_SCHEME", "REFRESH_TOKEN", "TOKEN_STORAGE",
        )
    },
}
# CSC OAuth 2.0 authorization codes (scope "credential"): how long the client has to exchange one.
CSC_OAUTH_CODE_SECONDS = env_int("CSC_OAUTH_CODE_SECONDS", 120, minimum=60, maximum=600)
# Largest JSON body an API accepts, in bytes (a signHash of 1,000 SHA-512 hashes is ~100 kB).
API_MAX_REQUEST_BYTES = env_int("API_MAX_REQUEST_BYTES", 1024 * 1024, minimum=16 * 1024)
# CSC v2 signatures/signDoc carries whole PDFs in base64.
API_MAX_DOCUMENT_REQUEST_BYTES = env_int("API_MAX_DOCUMENT_REQUEST_BYTES", 64 * 1024 * 1024, minimum=1024 * 1024)
# The batch API signs up to this many documents within the request; a larger batch becomes an
# asynchronous job for the Celery workers (202 + job URL), so no HTTP request holds a worker for minutes.
SIGNING_BATCH_SYNC_LIMIT = env_int("SIGNING_BATCH_SYNC_LIMIT", 20, minimum=1, maximum=10000)
# How long the signed documents of a job can be fetched before they are deleted (and the job is 410).
SIGNING_JOB_RESULT_SECONDS = env_int("SIGNING_JOB_RESULT_SECONDS", 3600, minimum=60, maximum=7 * 24 * 3600)
# A job still running after this long has lost its worker: the beat job marks it failed.
SIGNING_JOB_MAX_RUN_SECONDS = env_int("SIGNING_JOB_MAX_RUN_SECONDS", 3600, minimum=300, maximum=24 * 3600)
# Documents signed between two progress updates of a job (one UPDATE per chunk).
SIGNING_JOB_CHUNK = env_int("SIGNING_JOB_CHUNK", 10, minimum=1, maximum=1000)
# The name this service gives itself in CSC ``info``.
CSC_SERVICE_NAME = env_str("CSC_SERVICE_NAME", CA_ORGANIZATION_NAME)

# --- Trust service profile: CA names, disclosure statement, OCSP responder, qualified TSA ----------
# What the certificates, the CRL, OCSP answers, timestamps and the PKI disclosure statement (PDS) say
# about the trust service (ETSI EN 319 411-1/-2, EN 319 412-1/-2/-5, EN 319 421/422). The defaults
# are development values: a trust service sets its own before issuing anything.
# organizationIdentifier of the CA names (EN 319 412-1 §5.1.4: "VAT" + country + VAT number). The
# default is an all-zero development VAT number, never a real company's.
CA_ORGANIZATION_IDENTIFIER = env_str("CA_ORGANIZATION_IDENTIFIER", "VATIT-00000000000")
# organizationalUnitName of the CA names, as Italian qualified trust service providers write it.
CA_ORGANIZATIONAL_UNIT = env_str("CA_ORGANIZATIONAL_UNIT", "Qualified Trust Service Provider")
# Base of the PKI disclosure statement, served by this portal at <base>it/ and <base>en/ and named in
# every holder certificate's QcPDS (EN 319 412-5: https). It must reach this portal's /ca/pds/.
CA_PDS_URL = env_str("CA_PDS_URL", "https://" + CA_PUBLIC_URL.split("://", 1)[-1] + "/ca/pds/")
if not CA_PDS_URL.startswith("https://") or not CA_PDS_URL.endswith("/"):
    raise ImproperlyConfigured("CA_PDS_URL must be an https:// URL ending with / (ETSI EN 319 412-5)")
# The PDS's contacts (EN 319 411-1 annex A: the TSP's contact information, where to ask for revocation).
CA_CONTACT_EMAIL = env_str("CA_CONTACT_EMAIL", "firma-remota@example.org")
CA_CONTACT_PHONE = env_str("CA_CONTACT_PHONE", "+39 059 000 0000")
CA_CONTACT_ADDRESS = env_str("CA_CONTACT_ADDRESS", "Via Example 1, 41121 Modena (MO), Italia")
# How long registration records and the audit trail are kept (the PDS says so): 20 years, the Italian
# rule for qualified certificates.
CA_RECORDS_RETENTION_YEARS = env_int("CA_RECORDS_RETENTION_YEARS", 20, minimum=1, maximum=100)
# The delegated OCSP responder's certificate carries id-pkix-ocsp-nocheck: relying parties never check
# its status, so it lives short (EN 319 411-2 asks for it) and the beat job replaces it
# CA_OCSP_RESPONDER_ROTATE_DAYS before it expires.
CA_OCSP_RESPONDER_VALIDITY_DAYS = env_int("CA_OCSP_RESPONDER_VALIDITY_DAYS", 90, minimum=7, maximum=730)
CA_OCSP_RESPONDER_ROTATE_DAYS = env_int("CA_OCSP_RESPONDER_ROTATE_DAYS", 30, minimum=1, maximum=365)
if CA_OCSP_RESPONDER_ROTATE_DAYS >= CA_OCSP_RESPONDER_VALIDITY_DAYS:
    raise ImproperlyConfigured("CA_OCSP_RESPONDER_ROTATE_DAYS must be less than CA_OCSP_RESPONDER_VALIDITY_DAYS")
# The internal TSA's policy, written into every TSTInfo. The default is a development OID under the
# UUID arc 2.25 (ITU-T X.667: unique without registration) that identifies nothing but this
# development service; a trust service sets the OID of its own time-stamp policy (which references
# ETSI's best-practices policy 0.4.0.2023.1.1).
SIGNING_TSA_POLICY_OID = env_str("SIGNING_TSA_POLICY_OID", "2.25.131331913309709109577782216666311634870")
# A TSA on the trusted list as qualified writes the esi4-qtstStatement-1 statement into its tokens
# (EN 319 422 §9.1): that claim carries eIDAS art. 41's presumption, so it is made only when set.
SIGNING_TSA_QUALIFIED = env_bool("SIGNING_TSA_QUALIFIED", False)

# --- Logging --------------------------------------------------------------------------------------
# One line per event on standard error, for the process manager or the container runtime to ship.
# LOG_FORMAT "json" (the default with DEBUG off: one JSON object per line, what log shippers index)
# or "plain" (development). Every line carries the request id (core/request_id.py). Nothing secret is
# ever logged: PINs, codes, SADs and passwords never reach a log call (tests/test_log_secrets.py).
LOG_FORMAT = env_str("LOG_FORMAT", "plain" if DEBUG else "json")
if LOG_FORMAT not in ("json", "plain"):
    raise ImproperlyConfigured("LOG_FORMAT must be json or plain")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "core.request_id.RequestIdLogFilter"},
        # DEBUG lines that carry tokens, page contexts or raw task messages: dropped even at LOG_LEVEL=DEBUG.
        "secret_bearing_debug": {"()": "core.log_filters.SecretBearingDebugFilter"},
    },
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(process)d %(request_id)s %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger", "process": "pid"},
            "timestamp": False,
        },
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT,
                            "filters": ["secret_bearing_debug", "request_id"]}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}
