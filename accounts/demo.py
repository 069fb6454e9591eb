"""The demo world: two organizations with operators and holders. One place, extended by later issues.

Demo data only: fixed, published passwords. ``seed_demo`` refuses to run with DEBUG off unless forced.
"""

from __future__ import annotations

import zlib
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.hashers import check_password, make_password
from django.db import transaction
from django.utils import timezone

from accounts.models import ApiClient, Holder, KeyAlgorithm, Operator, OperatorRole, Organization, User
from accounts.services.api_clients import api_client_create
from accounts.services.authentication import login_throttle_clear
from accounts.services.people import holder_create, operator_create
from otp.models import DeviceKind, DeviceState, OtpDevice
from otp.oath import otpauth_uri
from otp.services import device_create

DEMO_HOLDER_PASSWORD = "Firma-Remota-Demo-2026"
DEMO_OPERATOR_PASSWORD = "Sportello-Demo-2026!"

ORGANIZATIONS: list[dict[str, Any]] = [
    {
        "slug": "unimore",
        "name": "Università degli Studi di Modena e Reggio Emilia",
        "support_email": "supporto.certificati@example.org",
        "support_url": "https://certificati.example.org",
        "certificate_validity_months": 36,
        "renewable": True,
        "renewal_requires_approval": True,
        "operators": [
            ("unimore.operatore", "Paola", "Ferri", OperatorRole.OPERATOR),
            ("unimore.admin", "Marco", "Galli", OperatorRole.ORGANIZATION_ADMIN),
        ],
        "holders": [
            ("mario.rossi", "RSSMRA80A01F257G", "Mario", "Rossi", "mario.rossi@example.org", "+393471000001",
             "Professore ordinario"),
            ("laura.bianchi", "BNCLRA75M41H501X", "Laura", "Bianchi", "laura.bianchi@example.org", "+393471000002",
             "Professoressa associata"),
            ("giuseppe.verdi", "VRDGPP70C15F205N", "Giuseppe", "Verdi", "giuseppe.verdi@example.org", "+393471000003",
             "Ricercatore"),
        ],
    },
    {
        "slug": "cciaa-mantova",
        "name": "Camera di Commercio di Mantova",
        "support_email": "firmadigitale@example.net",
        "support_url": "https://firma.example.net",
        "certificate_validity_months": 24,
        "renewable": False,
        # Stricter than the default 5, so the demo shows the lockout policy is the organization's own.
        "login_max_failures": 3,
        "renewal_requires_approval": True,
        # The other key algorithm the CA offers (and a faster demo: no RSA key generation here).
        "key_algorithm": KeyAlgorithm.ECDSA_P256,
        "operators": [
            ("cciaa.operatore", "Sara", "Conti", OperatorRole.OPERATOR),
            ("cciaa.admin", "Davide", "Moretti", OperatorRole.ORGANIZATION_ADMIN),
        ],
        "holders": [
            ("lucia.neri", "NRELCU82D52B819G", "Lucia", "Neri", "lucia.neri@example.net", "+393331000001",
             "Libera professionista"),
            ("franco.galli", "GLLFNC68T10E897P", "Franco", "Galli", "franco.galli@example.net", "+393331000002",
             "Titolare d'impresa"),
        ],
    },
]


def _ensure_password(user: User, password: str) -> None:
    if not user.check_password(password):
        user.set_password(password)
        user.save(update_fields=["password"])
    login_throttle_clear(user=user)


def _ensure_user_code(holder: Holder) -> str:
    """A published user code per demo holder (demo data only), for trying password recovery."""
    code = f"{zlib.crc32(holder.codice_fiscale.encode()):010d}"
    if not holder.user_code_hash or not check_password(code, holder.user_code_hash):
        holder.user_code_hash = make_password(code)
        holder.user_code_issued_at = timezone.now()
        holder.save(update_fields=["user_code_hash", "user_code_issued_at", "updated_at"])
    return code


# Demo OTP devices with published seeds (demo data only): add the otpauth:// URI printed by
# seed_demo to an authenticator app, or compute codes from it.
DEMO_DEVICES: dict[str, dict[str, Any]] = {
    "mario.rossi": {"kind": DeviceKind.APP_TOTP, "seed": b"demo-totp-mario-2026", "serial": None},
    "laura.bianchi": {"kind": DeviceKind.HARDWARE_HOTP, "seed": b"demo-hotp-laura-2026", "serial": "1000000000001"},
}
# Tokens in stock, for trying "assign a token by serial" in the console.
DEMO_STOCK = {"1000000000002": b"demo-hotp-stock-0002", "1000000000003": b"demo-hotp-stock-0003"}


def _ensure_device(holder: Holder, *, kind: str, seed: bytes, serial: str | None) -> dict[str, str]:
    device = OtpDevice.objects.filter(holder=holder, kind=kind).exclude(state=DeviceState.RETIRED).first()
    if device is None:
        device = device_create(kind=kind, seed=seed, holder=holder, serial=serial)
    else:  # unlocked again; counters stay where they are, so used codes remain used
        OtpDevice.objects.filter(pk=device.pk).update(failure_count=0, locked_at=None)
    time_based = kind != DeviceKind.HARDWARE_HOTP
    uri = otpauth_uri(secret=seed, issuer="Firma remota", account=holder.user.username,
                      kind="totp" if time_based else "hotp")
    return {"kind": str(kind), "serial": serial or "", "otpauth": uri}


# The demo certificates, one per holder, at several points of the lifecycle (SPEC §4): "expires_in"
# moves not_after to that many days from now, so that the renewal window and the expiry reminders
# (60/30/7 days) can be tried at once.
DEMO_CERTIFICATES: dict[str, dict[str, Any]] = {
    "mario.rossi": {"state": "active"},
    "laura.bianchi": {"state": "active", "expires_in": 45},
    "giuseppe.verdi": {"state": "suspended"},
    "lucia.neri": {"state": "active", "expires_in": 6},  # chamber of commerce: not renewable
    "franco.galli": {"state": "revoked"},
}


def _demo_pin(holder: Holder) -> str:
    """A published signing PIN per demo holder (demo data only), derived like the user code."""
    from accounts.errors import ApplicationError
    from certificates.services import pin_validate

    for salt in range(10):
        pin = f"{zlib.crc32(f'pin:{salt}:{holder.codice_fiscale}'.encode()) % 10**10:010d}"
        try:
            pin_validate(pin=pin, holder=holder)
        except ApplicationError:  # a weak derived PIN (a run, a repeat): the next salt
            pass
        else:
            return pin
    raise RuntimeError("no acceptable demo PIN")


def _ensure_certificate(holder: Holder, *, state: str, expires_in: int | None = None) -> dict[str, str]:
    """The holder's demo certificate, issued once: an existing one is reported as it is now."""
    from certificates.models import Certificate
    from certificates.services import (
        certificate_activate,
        certificate_issue,
        certificate_request,
        certificate_revoke,
        certificate_suspend,
    )

    pin = _demo_pin(holder)
    certificate = Certificate.objects.filter(holder=holder).order_by("-requested_at", "-pk").first()
    if certificate is None:
        certificate = certificate_issue(certificate=certificate_request(holder=holder))
        certificate = certificate_activate(certificate=certificate, pin=pin, actor=holder.user)
        if expires_in is not None:
            # Demo only: the row's validity is moved closer, so that the panel, the renewal window and
            # the reminder job see a certificate about to expire. The DER keeps the validity it was
            # signed with; a real certificate's dates never change after issuance. Days are counted in
            # Rome (wall-clock arithmetic on a local time), so "6 days" is six dates away across a
            # change of summer time too.
            not_after = timezone.localtime() + timedelta(days=expires_in)
            Certificate.objects.filter(pk=certificate.pk).update(not_after=not_after)
            certificate.not_after = not_after
        if state == "suspended":
            certificate = certificate_suspend(certificate=certificate, note="demo")
        elif state == "revoked":
            certificate = certificate_revoke(certificate=certificate, reason="affiliation_changed")
    return {
        "state": certificate.state,
        "iut": certificate.iut,
        "valid_until": timezone.localdate(certificate.not_after).isoformat() if certificate.not_after else "",
        "signing_pin": pin,
    }


@transaction.atomic
def seed_demo() -> dict[str, Any]:
    """Create (or bring back to its initial state) the demo world; return the summary to print."""
    from certificates.services import authority_init

    summary: dict[str, Any] = {"panel_url": f"{settings.SITE_URL}/", "organizations": []}
    authority_init()  # the CA, once: nothing happens when it exists
    for spec in ORGANIZATIONS:
        defaults = {k: v for k, v in spec.items() if k not in {"slug", "operators", "holders"}}
        organization, _ = Organization.objects.update_or_create(slug=spec["slug"], defaults=defaults)
        org_summary: dict[str, Any] = {
            "slug": organization.slug,
            "name": organization.name,
            "console_url": f"{settings.SITE_URL}/operatore/",
            "operators": [],
            "holders": [],
        }
        for username, given, surname, role in spec["operators"]:
            operator = Operator.objects.filter(user__username=username).first()
            if operator is None:
                operator = operator_create(
                    organization=organization,
                    username=username,
                    given_name=given,
                    surname=surname,
                    email=f"{username}@example.org",
                    role=role,
                    password=DEMO_OPERATOR_PASSWORD,
                )
            _ensure_password(operator.user, DEMO_OPERATOR_PASSWORD)
            org_summary["operators"].append(
                {"username": username, "password": DEMO_OPERATOR_PASSWORD, "role": str(role)}
            )
        for username, cf, given, surname, email, mobile, title in spec["holders"]:
            holder = Holder.objects.filter(user__username=username).first()
            if holder is None:
                holder = holder_create(
                    organization=organization,
                    username=username,
                    codice_fiscale=cf,
                    given_name=given,
                    surname=surname,
                    email=email,
                    mobile=mobile,
                    password=DEMO_HOLDER_PASSWORD,
                    role_organization=organization.name,
                    role_title=title,
                    residence_address="Via Emilia 1",
                    residence_city="Modena" if organization.slug == "unimore" else "Mantova",
                    residence_postal_code="41121" if organization.slug == "unimore" else "46100",
                    residence_province="MO" if organization.slug == "unimore" else "MN",
                )
            _ensure_password(holder.user, DEMO_HOLDER_PASSWORD)
            entry: dict[str, Any] = {
                "username": username,
                "password": DEMO_HOLDER_PASSWORD,
                "user_code": _ensure_user_code(holder),
            }
            device = DEMO_DEVICES.get(username)
            if device is not None:
                entry["otp"] = _ensure_device(holder, **device)
            certificate = DEMO_CERTIFICATES.get(username)
            if certificate is not None:
                entry["certificate"] = _ensure_certificate(holder, **certificate)
            org_summary["holders"].append(entry)
        summary["organizations"].append(org_summary)
    for serial, seed in DEMO_STOCK.items():
        if not OtpDevice.objects.filter(serial=serial).exists():
            device_create(kind=DeviceKind.HARDWARE_HOTP, seed=seed, serial=serial, state=DeviceState.AVAILABLE)
    summary["tokens_in_stock"] = [
        serial for serial in DEMO_STOCK if OtpDevice.objects.filter(serial=serial, state=DeviceState.AVAILABLE).exists()
    ]
    summary["api_client"] = _ensure_api_client()
    return summary


DEMO_API_CLIENT_NAME = "Verbali d'esame (demo)"
# Published, like every demo password: for trying the CSC API with curl or pyHanko's CSCSigner.
DEMO_API_CLIENT_SECRET = "Demo-API-Secret-Verbali-2026-non-usare-in-produzione"


def _ensure_api_client() -> dict[str, Any]:
    """The university's exam-records system, with all scopes; the secret is stored hashed as usual."""
    organization = Organization.objects.get(slug="unimore")
    api_client = ApiClient.objects.filter(
        organization=organization, name=DEMO_API_CLIENT_NAME, revoked_at__isnull=True
    ).first()
    if api_client is None:
        admin = Operator.objects.get(organization=organization, role=OperatorRole.ORGANIZATION_ADMIN)
        api_client, _secret = api_client_create(
            actor=admin.user, name=DEMO_API_CLIENT_NAME, scopes=list(settings.API_SCOPES)
        )
    application = api_client.application
    if not check_password(DEMO_API_CLIENT_SECRET, application.client_secret):
        application.client_secret = DEMO_API_CLIENT_SECRET  # hashed by django-oauth-toolkit on save
        application.save(update_fields=["client_secret"])
    return {
        "organization": organization.slug,
        "client_id": application.client_id,
        "client_secret": DEMO_API_CLIENT_SECRET,
        "token_url": f"{settings.SITE_URL}/oauth2/token",
        "csc_url": f"{settings.SITE_URL}/csc/v1/",
    }
