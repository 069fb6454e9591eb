"""Step-up: one fresh code authorizes one sensitive operation, of the kind it was asked for."""

from __future__ import annotations

import time

import pytest
from django.http import HttpResponse
from django.test import RequestFactory
from django.urls import reverse

from otp.models import DeviceKind
from otp.oath import totp
from otp.services import device_create
from otp.stepup import STEPUP_SESSION_KEY, stepup_consume, stepup_grant, stepup_required, stepup_valid
from tests.conftest import CODE_REPLAYED_IT

pytestmark = pytest.mark.django_db
SEED = b"12345678901234567890"
URL = reverse("otp:stepup")


@pytest.fixture
def app_device(world):
    return device_create(kind=DeviceKind.APP_TOTP, seed=SEED, holder=world.alpha.holder)


def post(client, device, code, operation="change_email", next_url="/utenza/email/"):
    return client.post(URL, {"device": str(device.public_id), "code": code, "operation": operation, "next": next_url})


def test_a_right_code_grants_that_operation_and_returns_to_it(holder_client, app_device):
    response = post(holder_client, app_device, totp(SEED, time.time()))
    assert response.status_code == 302 and response["Location"] == "/utenza/email/"
    grants = holder_client.session[STEPUP_SESSION_KEY]
    assert set(grants) == {"change_email"}


def test_a_wrong_code_says_how_many_attempts_are_left(holder_client, app_device):
    response = post(holder_client, app_device, "000000")
    assert response.status_code == 400
    assert "9" in " ".join(response.context["form"].errors["code"])
    assert STEPUP_SESSION_KEY not in holder_client.session


def test_a_code_cannot_be_used_twice(holder_client, app_device):
    code = totp(SEED, time.time())
    post(holder_client, app_device, code)
    again = post(holder_client, app_device, code, operation="change_phone")
    assert again.status_code == 400
    assert "change_phone" not in holder_client.session[STEPUP_SESSION_KEY]


def test_a_replayed_code_says_already_used_and_does_not_count(holder_client, app_device):
    code = totp(SEED, time.time())
    post(holder_client, app_device, code)

    again = post(holder_client, app_device, code, operation="change_phone")

    assert again.context["form"].errors["code"] == [CODE_REPLAYED_IT]
    app_device.refresh_from_db()
    assert app_device.failure_count == 0


def test_another_holders_device_is_not_accepted(world, holder_client):
    foreign = device_create(kind=DeviceKind.APP_TOTP, seed=SEED, holder=world.beta.holder)
    response = post(holder_client, foreign, totp(SEED, time.time()))
    assert response.status_code == 400  # not among the choices offered to this holder
    assert STEPUP_SESSION_KEY not in holder_client.session


@pytest.mark.parametrize("operation", ["", "drop_tables", "x" * 300])
def test_unknown_operations_are_a_400(holder_client, app_device, operation):
    assert holder_client.get(URL, {"operation": operation}).status_code == 400


def test_off_site_next_is_ignored(holder_client, app_device):
    response = post(holder_client, app_device, totp(SEED, time.time()), next_url="https://evil.example.com/")
    assert response["Location"] == reverse("panel:devices")


def test_a_holder_without_devices_is_told_to_contact_the_office(holder_client):
    response = holder_client.get(URL, {"operation": "change_email"})
    assert response.status_code == 200 and b"<form method=\"post\" novalidate" not in response.content


def test_the_page_needs_a_holder_login(client, db):
    assert client.get(URL, {"operation": "change_email"}).status_code == 302


def test_step_up_is_rate_limited(holder_client, app_device, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "otp_verify_user": "2/600s"}
    post(holder_client, app_device, "000000")
    post(holder_client, app_device, "000001")
    assert post(holder_client, app_device, totp(SEED, time.time())).status_code == 429


def _request_with_session(holder_client):
    request = RequestFactory().get("/utenza/email/")
    request.session = holder_client.session
    return request


def test_the_grant_is_bound_to_its_operation_and_consumed_once(holder_client):
    request = _request_with_session(holder_client)
    stepup_grant(request=request, operation="change_email")
    assert stepup_valid(request=request, operation="change_email")
    assert not stepup_valid(request=request, operation="certificate_revoke")
    assert stepup_consume(request=request, operation="change_email")
    assert not stepup_consume(request=request, operation="change_email")


def test_the_grant_expires(holder_client):
    request = _request_with_session(holder_client)
    request.session[STEPUP_SESSION_KEY] = {"sign": int(time.time()) - 1}
    assert not stepup_valid(request=request, operation="sign")


def test_the_decorator_sends_to_the_otp_page_first(holder_client):
    @stepup_required("change_phone")
    def view(request):
        return HttpResponse("done")

    request = _request_with_session(holder_client)
    response = view(request)
    assert response.status_code == 302
    assert response["Location"].startswith(URL) and "operation=change_phone" in response["Location"]
    stepup_grant(request=request, operation="change_phone")
    assert view(request).content == b"done"


def test_unknown_operations_are_a_programming_error():
    with pytest.raises(ValueError):
        stepup_required("launch_rockets")


def test_a_refused_code_is_not_echoed_back_in_the_page(holder_client, app_device):
    response = post(holder_client, app_device, "482913")
    assert response.status_code == 400
    assert b"482913" not in response.content
