"""The demo world: three organizations with operators and holders, certificates of several ages and
states, and renewals at several points. One place, extended as the product grows.

Demo data only: fixed, published passwords. ``seed_demo`` refuses to run with DEBUG off unless forced.
"""

from __future__ import annotations

import time
import zlib
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.hashers import check_password, make_password
from django.utils import timezone

from accounts.models import ApiClient, Holder, KeyAlgorithm, Operator, OperatorRole, Organization, User
from accounts.services.api_clients import api_client_create
from accounts.services.authentication import login_throttle_clear
from accounts.services.people import holder_create, operator_create
from otp.models import DeviceKind, DeviceState, OtpDevice
from otp.oath import otpauth_uri, totp
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
            ("chiara.romano", "RMNCHR78H50F257A", "Chiara", "Romano", "chiara.romano@example.org", "+393471000004",
             "Tecnica di laboratorio"),
        ],
        "residence": ("Via Università 4", "Modena", "41121", "MO"),
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
        # The RSA choice: RSA-3072 keys signing with RSASSA-PSS (the other organizations have the
        # default, ECDSA P-256).
        "key_algorithm": KeyAlgorithm.RSA_PSS_3072,
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
        "residence": ("Via Calvi 28", "Mantova", "46100", "MN"),
    },
    {
        "slug": "comune-reggio-emilia",
        "name": "Comune di Reggio Emilia",
        "support_email": "firma.digitale@example.com",
        "support_url": "https://firma.example.com",
        "certificate_validity_months": 24,
        "renewable": True,
        # Automatic renewal: the signed renewal form is enough, no operator decides.
        "renewal_requires_approval": False,
        "operators": [
            ("comune.operatore", "Elisa", "Marchetti", OperatorRole.OPERATOR),
            ("comune.admin", "Stefano", "Barbieri", OperatorRole.ORGANIZATION_ADMIN),
        ],
        "holders": [
            ("elena.ricci", "RCCLNE79B45H223K", "Elena", "Ricci", "elena.ricci@example.com", "+393401000001",
             "Dirigente del servizio appalti"),
        ],
        "residence": ("Piazza Prampolini 1", "Reggio Emilia", "42121", "RE"),
    },
]


def _ensure_password(user: User, password: str) -> None:
    if not user.check_password(password):
        user.set_password(password)
        user.save(update_fields=["password"])
    login_throttle_clear(user=user)


def _ensure_staff_app(user: User) -> str:
    """A published authenticator-app seed per demo operator (demo data only): the second factor."""
    import base64
    import hashlib

    seed = hashlib.sha256(f"demo-staff-totp:{user.username}".encode()).digest()[:20]
    device = OtpDevice.objects.filter(staff_user=user, kind=DeviceKind.APP_TOTP).first()
    if device is None:
        device_create(kind=DeviceKind.APP_TOTP, seed=seed, staff_user=user, digits=6, period=30)
    else:  # back to its initial state: active, unlocked, no step used
        OtpDevice.objects.filter(pk=device.pk).update(
            state=DeviceState.ACTIVE, failure_count=0, locked_at=None, last_step=None, drift=0
        )
    return base64.b32encode(seed).decode("ascii").rstrip("=")


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
    "chiara.romano": {"kind": DeviceKind.APP_TOTP, "seed": b"demo-totp-chiara-2026", "serial": None},
    "elena.ricci": {"kind": DeviceKind.APP_TOTP, "seed": b"demo-totp-elena-2026", "serial": None},
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


# The demo certificates, one per holder, at several points of the lifecycle. "expires_in": issued so
# long ago that it expires that many days from now (Rome dates), so that the renewal window and the
# expiry reminders (60/30/7 days) can be tried at once; without it, issued now. The validity is the
# one signed into the certificate: the panel, the certificate, CRL and OCSP all tell the same story.
DEMO_CERTIFICATES: dict[str, dict[str, Any]] = {
    "mario.rossi": {"state": "active"},
    "laura.bianchi": {"state": "active", "expires_in": 45},  # renews in the panel; the operator approves
    "giuseppe.verdi": {"state": "suspended"},
    "chiara.romano": {"state": "active", "expires_in": 20},  # her signed renewal waits in the queue
    "lucia.neri": {"state": "active", "expires_in": 6},  # chamber of commerce: not renewable
    "franco.galli": {"state": "revoked"},
    "elena.ricci": {"state": "active", "expires_in": 30},  # renews in the panel, automatically
}
# Renewals: who can go through the panel's wizard, and whose request the seed signs and sends.
DEMO_RENEWAL_END_TO_END = ("laura.bianchi", "elena.ricci")
DEMO_RENEWAL_SUBMITTED = ("chiara.romano",)


def _demo_pin(holder: Holder) -> str:
    """A published signing PIN per demo holder (demo data only), derived like the user code."""
    from certificates.services import pin_validate
    from core.errors import ApplicationError

    for salt in range(10):
        pin = f"{zlib.crc32(f'pin:{salt}:{holder.codice_fiscale}'.encode()) % 10**10:010d}"
        try:
            pin_validate(pin=pin, holder=holder)
        except ApplicationError:  # a weak derived PIN (a run, a repeat): the next salt
            pass
        else:
            return pin
    raise RuntimeError("no acceptable demo PIN")


def _issued_at_for(*, expires_in: int, months: int) -> datetime:
    """When a certificate valid for ``months`` months was issued, if it expires ``expires_in`` days from
    now (Rome dates; at the time of day it is now)."""
    from certificates.services.lifecycle import validity_end

    target = timezone.localtime() + timedelta(days=expires_in)
    issued_at = validity_end(issued_at=target, months=-months)  # the same calendar arithmetic, backwards
    # Months back from a 31st (or a 29 February) may land on a shorter month's last day: one day on.
    while timezone.localdate(validity_end(issued_at=issued_at, months=months)) < target.date():
        issued_at += timedelta(days=1)
    return issued_at


def _activate_issued_in_the_past(certificate: Any, *, pin: str, holder: Holder) -> Any:
    """Activate a certificate the demo issued in the past, as its holder did the day after issuance (the
    audit trail still records when it was really done)."""
    from certificates.services import certificate_activate

    return certificate_activate(
        certificate=certificate, pin=pin, actor=holder.user, activated_at=certificate.issued_at + timedelta(days=1)
    )


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
        issued_at = None
        if expires_in is not None:
            issued_at = _issued_at_for(
                expires_in=expires_in, months=holder.organization.certificate_validity_months
            )
        certificate = certificate_issue(certificate=certificate_request(holder=holder), issued_at=issued_at)
        if issued_at is None:
            certificate = certificate_activate(certificate=certificate, pin=pin, actor=holder.user)
        else:
            certificate = _activate_issued_in_the_past(certificate, pin=pin, holder=holder)
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


def _ensure_submitted_renewal(holder: Holder) -> None:
    """The holder's renewal, signed and sent through the real services — wizard steps, then the form
    signed with the certificate being renewed (the demo PIN, a code of the holder's authenticator app)
    — once: a holder who already has a renewal request keeps it as it is."""
    from certificates.models import Certificate, CertificateState
    from renewal.models import RenewalRequest
    from renewal.services import renewal_consents_accept, renewal_data_confirm, renewal_start, renewal_submit

    if RenewalRequest.objects.filter(holder=holder).exists():
        return
    certificate = Certificate.objects.filter(holder=holder, state=CertificateState.ACTIVE).first()
    device = OtpDevice.objects.filter(holder=holder, kind=DeviceKind.APP_TOTP, state=DeviceState.ACTIVE).first()
    if certificate is None or device is None:
        return
    request = renewal_start(holder=holder, certificate=certificate)
    request = renewal_data_confirm(request=request)
    request = renewal_consents_accept(
        request=request, form_sha256=request.form_sha256, data_still_valid=True, conditions_accepted=True
    )
    seed = DEMO_DEVICES[holder.user.username]["seed"]
    code = totp(seed, time.time(), period=device.period, digits=device.digits, algorithm=device.algorithm)
    renewal_submit(request=request, pin=_demo_pin(holder), otp_code=code, otp_device=device)


def _renewal_summary() -> dict[str, Any]:
    """Which demo holder shows what of the renewal, as the database says now (so a rerun after trying a
    renewal tells the truth too)."""
    from certificates.selectors import certificate_current_for_holder
    from renewal.models import RenewalRequest
    from renewal.selectors import renewal_eligibility

    def certificate_of(username: str) -> Any:
        return certificate_current_for_holder(user=User.objects.get(username=username))

    def expires_on(certificate: Any) -> str:
        return timezone.localdate(certificate.not_after).isoformat() if certificate and certificate.not_after else ""

    end_to_end = []
    for username in DEMO_RENEWAL_END_TO_END:
        certificate = certificate_of(username)
        organization = certificate.organization
        end_to_end.append({
            "holder": username,
            "organization": organization.slug,
            "expires_on": expires_on(certificate),
            "eligibility": renewal_eligibility(certificate=certificate).verdict,
            "decision": "operator" if organization.renewal_requires_approval else "automatic",
        })
    waiting = []
    for username in DEMO_RENEWAL_SUBMITTED:
        request = RenewalRequest.objects.filter(holder__user__username=username).select_related(
            "organization", "old_certificate"
        ).order_by("-created_at", "-pk").first()
        if request is None:
            continue
        organization = request.organization
        waiting.append({
            "holder": username,
            "organization": organization.slug,
            "number": request.number,
            "state": request.state,
            "expires_on": expires_on(request.old_certificate),
            "queue_url": f"{settings.SITE_URL}/operatore/rinnovi/",
            "operators": list(
                Operator.objects.filter(organization=organization).order_by("pk")
                .values_list("user__username", flat=True)
            ),
        })
    slugs = [spec["slug"] for spec in ORGANIZATIONS]
    organizations = sorted(Organization.objects.filter(slug__in=slugs), key=lambda o: slugs.index(o.slug))
    return {
        "panel_url": f"{settings.SITE_URL}/rinnovo/",
        "end_to_end": end_to_end,
        "waiting_for_approval": waiting,
        "automatic": [o.slug for o in organizations if o.renewable and not o.renewal_requires_approval],
        "not_renewable": [
            {
                "organization": o.slug,
                "holders": list(Holder.objects.filter(organization=o).order_by("pk").values_list(
                    "user__username", flat=True
                )),
            }
            for o in organizations if not o.renewable
        ],
    }


def seed_demo() -> dict[str, Any]:
    """Create (or bring back to its initial state) the demo world; return the summary to print.

    Not one transaction: the demo renewal is signed with PIN + OTP through the real services, whose
    PIN check refuses to run inside another transaction. Every step is idempotent, so a seed that
    stops halfway is completed by running it again (``make run`` does, every time)."""
    from certificates.services import authority_init

    summary: dict[str, Any] = {"panel_url": f"{settings.SITE_URL}/", "organizations": []}
    authority_init()  # the CA, once: nothing happens when it exists
    for spec in ORGANIZATIONS:
        defaults = {k: v for k, v in spec.items() if k not in {"slug", "operators", "holders", "residence"}}
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
            else:  # a new account has just been given it (each check costs an Argon2 hash)
                _ensure_password(operator.user, DEMO_OPERATOR_PASSWORD)
            secret = _ensure_staff_app(operator.user)
            org_summary["operators"].append(
                {
                    "username": username, "password": DEMO_OPERATOR_PASSWORD, "role": str(role),
                    # The second factor: add it to an authenticator app, or read a code with
                    # `oathtool --totp -b <secret>`.
                    "totp_secret": secret,
                }
            )
        address, city, postal_code, province = spec["residence"]
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
                    residence_address=address,
                    residence_city=city,
                    residence_postal_code=postal_code,
                    residence_province=province,
                )
            else:
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
            if username in DEMO_RENEWAL_SUBMITTED:
                _ensure_submitted_renewal(holder)
            org_summary["holders"].append(entry)
        summary["organizations"].append(org_summary)
    for serial, seed in DEMO_STOCK.items():
        if not OtpDevice.objects.filter(serial=serial).exists():
            device_create(kind=DeviceKind.HARDWARE_HOTP, seed=seed, serial=serial, state=DeviceState.AVAILABLE)
    summary["tokens_in_stock"] = [
        serial for serial in DEMO_STOCK if OtpDevice.objects.filter(serial=serial, state=DeviceState.AVAILABLE).exists()
    ]
    summary["api_client"] = _ensure_api_client()
    summary["renewal"] = _renewal_summary()
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
