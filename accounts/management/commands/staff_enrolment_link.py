"""Print (and e-mail) an enrolment link for an operator or a platform administrator.

The way in for the first platform administrator (after ``createsuperuser``) and for the first
administrator of a new organization (``--invite``): whoever runs it has the server's shell, the
strongest role there is. Everyone else is invited from the console.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import OperatorRole, Organization, StaffEnrolmentPurpose, User, UserKind
from accounts.services.staff import enrolment_link_issue, operator_invite, staff_has_enrolled
from core.errors import ApplicationError


class Command(BaseCommand):
    help = "Issue a single-use enrolment link (second factor) for an operator or platform administrator."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username", nargs="?", help="an existing operator or platform administrator")
        parser.add_argument("--invite", metavar="EMAIL", help="invite a new organization admin with this e-mail")
        parser.add_argument("--organization", metavar="SLUG", help="with --invite: the organization")
        parser.add_argument("--given-name", default="", help="with --invite")
        parser.add_argument("--surname", default="", help="with --invite")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["invite"]:
            organization = Organization.objects.filter(slug=options["organization"] or "").first()
            if organization is None:
                raise CommandError("--invite needs --organization with the slug of an existing organization")
            try:
                _operator, link = operator_invite(
                    actor=None, organization=organization, email=options["invite"],
                    given_name=options["given_name"] or "Amministratore",
                    surname=options["surname"] or organization.name, role=OperatorRole.ORGANIZATION_ADMIN,
                )
            except ApplicationError as exc:
                raise CommandError(str(exc.message)) from exc
        else:
            user = User.objects.filter(username=(options["username"] or "").strip().lower()).first()
            if user is None or user.kind == UserKind.HOLDER:
                raise CommandError("no operator or platform administrator has this username")
            first_time = not staff_has_enrolled(user)
            purpose = StaffEnrolmentPurpose.INVITATION if first_time and not user.has_usable_password() else (
                StaffEnrolmentPurpose.FACTOR_RESET
            )
            link = enrolment_link_issue(user=user, purpose=purpose, actor=None)
        self.stdout.write(link)
