"""The production processes and the environment they read: one list for every way of running them.

``docker-compose.yml`` runs each process as a service; ``scripts/production-smoke`` runs the very same
commands as local processes to prove the topology works end to end. ``tests/test_compose.py`` holds the
compose file (and the Dockerfile) to this module, so the smoke can never pass on a topology the compose
file does not describe, nor the compose file drift from what the smoke proved.

Commands are argument lists. ``{bind}`` is the one value that differs between the two: the container
listens on every interface of its own network namespace, the smoke on the loopback of a shared machine.
"""

from __future__ import annotations

# Where the web process listens in the container (the Dockerfile's EXPOSE, compose's port mapping).
COMPOSE_BIND = "0.0.0.0:8000"

# One worker per queue, so a long signing job never delays a one-time code: ``messages`` carries the
# codes and security notices (short, latency-bound), ``signing`` the batch jobs (one at a time, none
# prefetched: a job waiting behind another on a busy worker would rather wait in the broker, where a
# restarted worker still finds it), ``default`` the scheduled jobs. ``beat`` only schedules.
SERVICES: dict[str, tuple[str, ...]] = {
    "migrate": ("python", "manage.py", "migrate", "--no-input"),
    # config/gunicorn_metrics.py: a worker that exits gives up its live gauges in PROMETHEUS_MULTIPROC_DIR.
    "web": (
        "gunicorn", "config.wsgi:application", "--config", "config/gunicorn_metrics.py", "--bind", "{bind}",
        "--workers", "2", "--access-logfile", "-",
    ),
    "worker-messages": (
        "celery", "-A", "config", "worker", "-Q", "messages", "-n", "messages@%h", "--concurrency", "2",
        "--loglevel", "INFO",
    ),
    "worker-signing": (
        "celery", "-A", "config", "worker", "-Q", "signing", "-n", "signing@%h", "--concurrency", "1",
        "--prefetch-multiplier", "1", "--loglevel", "INFO",
    ),
    "worker-default": (
        "celery", "-A", "config", "worker", "-Q", "default", "-n", "default@%h", "--concurrency", "1",
        "--loglevel", "INFO",
    ),
    "beat": ("celery", "-A", "config", "beat", "--loglevel", "INFO"),
}

# The Celery node of each worker service, for its health check (``celery inspect ping``).
WORKER_NODES: dict[str, str] = {"worker-messages": "messages", "worker-signing": "signing", "worker-default": "default"}

# What every application process (web, workers, beat, migrate) is given by the deployment. Secrets are
# only ever the ``_FILE`` form: a path to a file, never the value in the environment.
APP_ENVIRONMENT: tuple[str, ...] = (
    "DJANGO_DEBUG",
    "DJANGO_SECRET_KEY_FILE",
    "CA_KEK_KEYS_FILE",
    "CA_PIN_PEPPER_FILE",
    "OTP_SEED_KEYS_FILE",
    "AUDIT_CHAIN_KEY_FILE",
    "NOTIFICATIONS_SEAL_KEY_FILE",
    "DJANGO_ALLOWED_HOSTS",
    "RECAPTCHA_PUBLIC_KEY",
    "RECAPTCHA_PRIVATE_KEY",
    "SITE_URL",
    "DATABASE_URL",
    "DATABASE_CONN_MAX_AGE",
    "CACHE_URL",
    "CELERY_BROKER_URL",
    "EMAIL_BACKEND",
    "EMAIL_HOST",
    "EMAIL_PORT",
    "DEFAULT_FROM_EMAIL",
    "SECURE_SSL_REDIRECT",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
    # Shared by the web and worker processes of a host, emptied before they start (docs/metrics.md):
    # /metrics then adds up every process's counters, the workers' signatures included.
    "PROMETHEUS_MULTIPROC_DIR",
)

# Set by the image itself (the Dockerfile's ENV), so compose does not repeat them; the smoke sets them.
IMAGE_ENVIRONMENT: tuple[str, ...] = ("VAR_DIR", "STATIC_ROOT")


def command(service: str, *, bind: str = COMPOSE_BIND) -> list[str]:
    """The service's command as an argument list, with ``{bind}`` filled in."""
    return [part.replace("{bind}", bind) for part in SERVICES[service]]


def web_healthcheck(port: int = 8000) -> list[str]:
    """The web process answers ``/healthz`` (the image has no curl: Python's own client)."""
    return [
        "python", "-c",
        f"import urllib.request; urllib.request.urlopen('http://127.0.0.1:{port}/healthz', timeout=5)",
    ]


def worker_healthcheck(service: str, hostname: str = "$$HOSTNAME") -> list[str]:
    """The worker's node answers a ping through the broker. Compose runs it through a shell
    (``CMD-SHELL``) so that ``$HOSTNAME`` — the ``%h`` of the node name — is the container's own;
    ``$$`` is compose's escape for it."""
    return ["celery", "-A", "config", "inspect", "ping", "-d", f"{WORKER_NODES[service]}@{hostname}"]
