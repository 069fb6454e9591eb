"""Holder data: codice fiscale checksum, E.164 mobiles, one person per e-mail or mobile."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import translation

from accounts.models import ContactOwnership, Holder, Organization, User
from accounts.services.people import holder_contacts_update, holder_create, operator_create
from accounts.validators import normalize_codice_fiscale, normalize_mobile
from audit.models import AuditEvent
from core.errors import ApplicationError

pytestmark = pytest.mark.django_db

VALID_CF = "RSSMRA80A01F257G"
OTHER_CF = "VRDGPP70C15F205N"


def make_holder(organization: Organization, **overrides: str) -> Holder:
    data = {
        "username": "giuseppe.verdi",
        "codice_fiscale": OTHER_CF,
        "given_name": "Giuseppe",
        "surname": "Verdi",
        "email": "giuseppe.verdi@example.org",
        "mobile": "+393471000099",
    }
    data.update(overrides)
    return holder_create(organization=organization, **data)


def test_codice_fiscale_is_normalized():
    assert normalize_codice_fiscale(" rssmra80a01f257g ") == VALID_CF


@pytest.mark.parametrize(
    ("value", "fragment"),
    [("RSSMRA80A01F257X", "check character"), ("RSSMRA80A01", "16"), ("1234567890123456", "not valid")],
    ids=["wrong_checksum", "too_short", "malformed"],
)
def test_invalid_codice_fiscale_is_refused_with_a_clear_message(value, fragment):
    with translation.override("en"), pytest.raises(ValidationError) as excinfo:
        normalize_codice_fiscale(value)
    assert fragment in " ".join(excinfo.value.messages)


@pytest.mark.parametrize(
    ("typed", "e164"),
    [("347 123 4567", "+393471234567"), ("+39 347-1234567", "+393471234567"), ("0039 3471234567", "+393471234567")],
)
def test_mobile_numbers_are_stored_in_e164(typed, e164):
    assert normalize_mobile(typed) == e164


@pytest.mark.parametrize("value", ["059 2056111", "12", "not a number", "+39" + "3" * 40])
def test_landlines_and_garbage_are_not_mobile_numbers(value):
    with pytest.raises(ValidationError):
        normalize_mobile(value)


def test_holder_create_stores_normalized_data_and_audits(world):
    holder = make_holder(world.alpha.organization, codice_fiscale=OTHER_CF.lower(), mobile="347 100 0099",
                         email=" Giuseppe.Verdi@Example.org ")
    assert holder.codice_fiscale == OTHER_CF
    assert holder.mobile == "+393471000099"
    assert holder.email == "giuseppe.verdi@example.org"
    assert holder.user.kind == "holder" and not holder.user.has_usable_password()
    assert AuditEvent.objects.filter(event_type="holder.created", subject_id=str(holder.pk)).exists()


def test_holder_create_with_a_bad_codice_fiscale_writes_nothing(world):
    users_before = User.objects.count()
    with pytest.raises(ApplicationError) as excinfo:
        make_holder(world.alpha.organization, codice_fiscale="VRDGPP70C15F205X")
    assert excinfo.value.field == "codice_fiscale"
    assert User.objects.count() == users_before
    assert not ContactOwnership.objects.filter(value="giuseppe.verdi@example.org").exists()


def test_an_email_already_used_by_another_person_is_refused_platform_wide(world):
    taken = world.beta.holder.email  # a person of the *other* organization
    with pytest.raises(ApplicationError) as excinfo:
        make_holder(world.alpha.organization, email=taken)
    assert excinfo.value.code == "contact_taken"
    with translation.override("it"):
        assert "già associato a un'altra persona" in str(excinfo.value.message)
    with translation.override("en"):
        assert "already associated with another person" in str(excinfo.value.message)
    assert not User.objects.filter(username="giuseppe.verdi").exists()


def test_a_mobile_already_used_by_another_person_is_refused(world):
    with pytest.raises(ApplicationError) as excinfo:
        make_holder(world.alpha.organization, mobile=world.alpha.holder.mobile)
    assert excinfo.value.field == "mobile"


def test_the_same_person_may_use_the_same_contacts_in_two_organizations(world):
    mario = world.alpha.holder
    again = make_holder(
        world.beta.organization, username="mario.rossi.cciaa", codice_fiscale=mario.codice_fiscale,
        email=mario.email.upper(), mobile=mario.mobile,
    )
    assert again.email == mario.email


def test_codice_fiscale_is_unique_within_an_organization(world):
    with pytest.raises(ApplicationError) as excinfo:
        make_holder(world.alpha.organization, username="other", codice_fiscale=world.alpha.holder.codice_fiscale)
    assert excinfo.value.code == "holder_exists"


def test_usernames_are_unique_whatever_the_case(world):
    with pytest.raises(ApplicationError) as excinfo:
        make_holder(world.alpha.organization, username="MARIO.ROSSI")
    assert excinfo.value.code == "username_taken"
    with pytest.raises(ApplicationError):
        operator_create(organization=world.beta.organization, username="Mario.Rossi", given_name="x", surname="y",
                        email="x@example.org")


def test_contact_change_releases_the_old_value_for_someone_else(world):
    laura = world.alpha.holders[1]
    old_email = laura.email
    holder_contacts_update(holder=laura, actor=world.alpha.operator.user, email="laura.new@example.org")
    assert not ContactOwnership.objects.filter(value=old_email).exists()
    # The address Laura gave up can now be claimed by another person.
    assert make_holder(world.alpha.organization, email=old_email).email == old_email
    event = AuditEvent.objects.get(event_type="holder.contacts_changed")
    assert event.details == {"fields": ["email"]}


def test_contact_change_to_someone_elses_mobile_is_refused_and_changes_nothing(world):
    laura = world.alpha.holders[1]
    with pytest.raises(ApplicationError):
        holder_contacts_update(holder=laura, actor=laura.user, email="laura.ok@example.org",
                               mobile=world.beta.holder.mobile)
    laura.refresh_from_db()
    assert laura.email == "laura@alpha.example.org"
    assert not ContactOwnership.objects.filter(value="laura.ok@example.org").exists()


def test_database_refuses_a_second_owner_even_past_the_service(world):
    with pytest.raises(IntegrityError), transaction.atomic():
        ContactOwnership.objects.create(kind="email", value=world.alpha.holder.email, codice_fiscale=OTHER_CF)


def test_database_refuses_a_mobile_not_in_e164(world):
    with pytest.raises(IntegrityError), transaction.atomic():
        Holder.objects.filter(pk=world.alpha.holder.pk).update(mobile="3471234567")


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"email": "not-an-address"}, "email"),
        ({"email": "a@" + "b" * 260 + ".it"}, "email"),
        ({"given_name": "G" * 500}, "given_name"),
        ({"username": "spazi non ammessi"}, "username"),
        ({"username": "u" * 200}, "username"),
        ({"mobile": "+39 347"}, "mobile"),
    ],
    ids=["malformed_email", "over_long_email", "over_long_name", "bad_username", "over_long_username", "short_mobile"],
)
def test_bad_holder_data_is_refused_by_field_and_nothing_is_half_saved(world, overrides, field):
    users, claims = User.objects.count(), ContactOwnership.objects.count()
    with pytest.raises(ApplicationError) as excinfo:
        make_holder(world.alpha.organization, **overrides)
    assert excinfo.value.field == field
    assert str(excinfo.value.message)
    assert (User.objects.count(), ContactOwnership.objects.count()) == (users, claims)


def test_bad_operator_data_is_refused_before_anything_is_written(world):
    users = User.objects.count()
    for overrides in ({"email": "nope"}, {"surname": "S" * 300}, {"username": "con spazi"}):
        data = {"username": "nuovo.operatore", "given_name": "A", "surname": "B", "email": "a@example.org"} | overrides
        with pytest.raises(ApplicationError):
            operator_create(organization=world.alpha.organization, **data)
    assert User.objects.count() == users
