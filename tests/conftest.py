"""Fixtures every test may use, above all ``world``: two organizations, each with operators and holders.

Later issues extend the world (certificates, devices…) rather than building their own, so tenant
isolation is checked against the same two organizations everywhere.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cache as memoize

import pytest
from django.contrib.auth.hashers import make_password
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from accounts.models import Holder, Operator, OperatorRole, Organization, User
from accounts.services.people import holder_create, operator_create
from tests.hsm import _ca_hierarchies, key_vault, softhsm_token  # noqa: F401  (the software and the PKCS#11 key vault)
from tests.stubs.fixtures import recaptcha, twilio_stub  # noqa: F401  (local stubs of Twilio and reCAPTCHA)

HOLDER_PASSWORD = "Quercia-Lenta-Sul-Fiume-42"
# What every page says, in Italian, to an OTP code (device or SMS) that was already used.
CODE_REPLAYED_IT = "Questo codice è già stato utilizzato. Usa un nuovo codice."
OPERATOR_PASSWORD = "Sportello-Aperto-Martedi-17"


@memoize
def argon2_hash(password: str) -> str:
    """One real Argon2 hash per password per test session: the world has eight accounts per test."""
    return make_password(password)


# Every operator, administrator and platform admin of the tests has an event-based token with the
# RFC 4226 test seed: ``staff_code`` reads its next code (no clock, so never a replay by accident).
STAFF_TOKEN_SEED = b"12345678901234567890"


def staff_token(user: User) -> None:
    from otp.models import DeviceKind
    from otp.services import device_create

    device_create(kind=DeviceKind.HARDWARE_HOTP, seed=STAFF_TOKEN_SEED, staff_user=user)


def staff_code(user: User) -> str:
    """The next code of ``user``'s test token (what the person would read on it now)."""
    from otp.models import DeviceKind, DeviceState, OtpDevice
    from otp.oath import hotp

    device = OtpDevice.objects.get(staff_user=user, kind=DeviceKind.HARDWARE_HOTP, state=DeviceState.ACTIVE)
    return hotp(STAFF_TOKEN_SEED, device.counter, digits=device.digits, algorithm=device.algorithm)


def confirmed(client: Client, data: dict[str, object] | None = None) -> dict[str, object]:
    """``data`` of a console action that asks for a fresh second factor, with the code that confirms it:
    the next code of the token of the person signed in on ``client``."""
    from django.contrib.auth import SESSION_KEY

    user = User.objects.get(pk=client.session[SESSION_KEY])
    return {**(data or {}), "confirmation_code": staff_code(user)}


def _with_password(user: User, password: str) -> None:
    User.objects.filter(pk=user.pk).update(password=argon2_hash(password))
    user.password = argon2_hash(password)


@dataclass
class Tenant:
    organization: Organization
    operator: Operator
    admin: Operator
    holders: list[Holder] = field(default_factory=list)

    @property
    def holder(self) -> Holder:
        return self.holders[0]


@dataclass
class World:
    alpha: Tenant
    beta: Tenant


def _tenant(slug: str, name: str, people: list[tuple[str, str, str, str, str, str]], **policy: object) -> Tenant:
    organization = Organization.objects.create(
        slug=slug, name=name, support_email=f"help@{slug}.example.org", support_url=f"https://{slug}.example.org",
        **policy,
    )
    operator = operator_create(
        organization=organization, username=f"{slug}.operatore", given_name="Paola", surname="Ferri",
        email=f"operatore@{slug}.example.org",
    )
    admin = operator_create(
        organization=organization, username=f"{slug}.admin", given_name="Marco", surname="Galli",
        email=f"admin@{slug}.example.org", role=OperatorRole.ORGANIZATION_ADMIN,
    )
    _with_password(operator.user, OPERATOR_PASSWORD)
    _with_password(admin.user, OPERATOR_PASSWORD)
    staff_token(operator.user)
    staff_token(admin.user)
    tenant = Tenant(organization=organization, operator=operator, admin=admin)
    for username, cf, given, surname, email, mobile in people:
        holder = holder_create(
            organization=organization, username=username, codice_fiscale=cf, given_name=given,
            surname=surname, email=email, mobile=mobile,
            role_organization=name, role_title="Professore ordinario",
            residence_address="Via Emilia 1", residence_city="Modena", residence_postal_code="41121",
            residence_province="MO",
        )
        _with_password(holder.user, HOLDER_PASSWORD)
        tenant.holders.append(holder)
    return tenant


@pytest.fixture
def world(db: None) -> World:
    """Organization *alpha* keeps the default policies; *beta* is stricter (3 failures, 14 characters)."""
    alpha = _tenant(
        "alpha", "Università Alfa",
        [
            ("mario.rossi", "RSSMRA80A01F257G", "Mario", "Rossi", "mario.rossi@alpha.example.org", "+393471000001"),
            ("laura.bianchi", "BNCLRA75M41H501X", "Laura", "Bianchi", "laura@alpha.example.org", "+393471000002"),
        ],
    )
    beta = _tenant(
        "beta", "Camera di Commercio Beta",
        [
            ("lucia.neri", "NRELCU82D52B819G", "Lucia", "Neri", "lucia.neri@beta.example.net", "+393331000001"),
            ("franco.galli", "GLLFNC68T10E897P", "Franco", "Galli", "franco@beta.example.net", "+393331000002"),
        ],
        login_max_failures=3, login_lockout_minutes=30, password_min_length=14,
    )
    return World(alpha=alpha, beta=beta)


@pytest.fixture(autouse=True)
def _own_audit_checkpoints(settings, tmp_path) -> None:  # noqa: ANN001
    """Each test publishes audit checkpoints to a file of its own: verify_audit reads the latest."""
    settings.AUDIT_CHECKPOINT_FILE = tmp_path / "audit-checkpoints.jsonl"


@pytest.fixture(autouse=True)
def _empty_cache() -> None:
    """Rate-limit counters live in the cache: every test starts with fresh budgets."""
    cache.clear()


def login(client: Client, username: str, password: str, *, portal: str = "panel"):
    """Log in as a person would: the password, then (console, admin) the second factor's code."""
    url = {"panel": "accounts:login", "console": "console:login", "admin": "admin:login"}[portal]
    response = client.post(reverse(url), {"username": username, "password": password})
    if portal == "panel" or response.status_code != 302 or response["Location"] != reverse("console:second_factor"):
        return response
    user = User.objects.get(username=username.strip().lower())
    return client.post(reverse("console:second_factor"), {"confirmation_code": staff_code(user)})


def platform_admin(client: Client, username: str = "piattaforma", password: str = "Amministra-La-Piattaforma-1",
                   **extra: object) -> User:
    """A platform administrator with a test token, signed in to Django admin on ``client``."""
    admin = User.objects.create_superuser(username, password, email=f"{username}@example.org", **extra)
    staff_token(admin)
    response = login(client, username, password, portal="admin")
    assert response.status_code == 302 and response["Location"] == reverse("admin:index"), response
    return admin


@pytest.fixture
def holder_client(world: World, client: Client) -> Client:
    """A browser session logged in as alpha's first holder (mario.rossi)."""
    response = login(client, world.alpha.holder.user.username, HOLDER_PASSWORD)
    assert response.status_code == 302, response.content[:500]
    return client


@pytest.fixture
def operator_client(world: World, client: Client) -> Client:
    """A browser session logged in as alpha's operator."""
    response = login(client, world.alpha.operator.user.username, OPERATOR_PASSWORD, portal="console")
    assert response.status_code == 302, response.content[:500]
    return client


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Tests of modules marked ``both_vaults`` run on the software vault and on the PKCS#11 vault."""
    if "key_vault" in metafunc.fixturenames and metafunc.definition.get_closest_marker("both_vaults"):
        metafunc.parametrize("key_vault", ["software", "pkcs11"], indirect=True)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """PostgreSQL-only tests are deselected on the embedded SQLite database (CI runs them on PostgreSQL)."""
    from django.conf import settings

    if settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        return
    deselected = [item for item in items if item.get_closest_marker("postgresql_only")]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if not item.get_closest_marker("postgresql_only")]


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """In CI (STRICT_NO_SKIP=1) a skipped test is a failure: a green run must mean everything ran."""
    if not os.environ.get("STRICT_NO_SKIP"):
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter is not None else []
    if skipped:
        reporter.write_line(f"STRICT_NO_SKIP: {len(skipped)} test(s) skipped; every test must run in CI.", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def run_coroutine(coroutine: object) -> object:
    """Run ``coroutine`` to completion on a thread of its own.

    The browser journeys keep Playwright's event loop running in the main thread for the rest of
    the session, and ``asyncio.run`` refuses to start inside a running loop.
    """
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def pytest_configure(config: pytest.Config) -> None:
    """Flush the test database past the audit trail's TRUNCATE guard (PostgreSQL).

    Tests that need real transactions (live server, Celery worker) end with Django's flush, a
    TRUNCATE of every table, which the audit tables refuse in production. The flush here runs with
    triggers disabled, as only a superuser can: the test runner is one, the application is not.
    """
    from django.db.backends.postgresql.operations import DatabaseOperations

    original = DatabaseOperations.execute_sql_flush

    def execute_sql_flush(self: DatabaseOperations, sql_list: list[str]) -> None:
        original(self, ["SET LOCAL session_replication_role = replica", *sql_list])

    DatabaseOperations.execute_sql_flush = execute_sql_flush  # type: ignore[method-assign]
