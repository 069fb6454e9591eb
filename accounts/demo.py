"""The demo world: two organizations with operators and holders. One place, extended by later issues.

Demo data only: fixed, published passwords. ``seed_demo`` refuses to run with DEBUG off unless forced.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import transaction

from accounts.models import Holder, Operator, OperatorRole, Organization, User
from accounts.services.authentication import login_throttle_clear
from accounts.services.people import holder_create, operator_create

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
        "renewal_requires_approval": True,
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


@transaction.atomic
def seed_demo() -> dict[str, Any]:
    """Create (or bring back to its initial state) the demo world; return the summary to print."""
    summary: dict[str, Any] = {"panel_url": f"{settings.SITE_URL}/", "organizations": []}
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
            org_summary["holders"].append({"username": username, "password": DEMO_HOLDER_PASSWORD})
        summary["organizations"].append(org_summary)
    return summary
