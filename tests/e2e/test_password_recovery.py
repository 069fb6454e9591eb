"""Journey: a holder who forgot the password recovers it, reading SMS and e-mail in the developer mailbox.

Everything is real but Google: a Celery worker process sends the SMS code and the verification
e-mail (file backends, shown by /sviluppo/posta/), and the reCAPTCHA widget and its verify call are
answered locally — the widget script by the browser's router, the verify call by ``recaptcha``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, Route, expect

from accounts.services.authentication import LoginOutcome, Portal, login_attempt
from accounts.services.people import holder_user_code_issue
from tests.conftest import World
from tests.e2e.conftest import english_leftovers, italian, log_in, path_of, screenshot
from tests.integration.conftest import Worker, eventually, worker_env, worker_process  # noqa: F401  (fixtures)
from tests.stubs.recaptcha import RecaptchaStub

pytestmark = pytest.mark.integration
NEW_PASSWORD = "Ritrovata-La-Chiave-Nel-Cassetto-7"

# What Google's api.js does for a checkbox widget, as far as the form is concerned: a box inside
# .g-recaptcha (Google's is an iframe) that, once ticked, puts the response token in a g-recaptcha-response field.
RECAPTCHA_API_JS = f"""
document.querySelectorAll('.g-recaptcha').forEach(function (box) {{
  var label = document.createElement('span');
  var tick = document.createElement('input');
  tick.type = 'checkbox'; tick.id = 'recaptcha-stub';
  var token = document.createElement('textarea');
  token.name = 'g-recaptcha-response'; token.hidden = true;
  tick.addEventListener('change', function () {{ token.value = tick.checked ? '{RecaptchaStub.PASSED}' : ''; }});
  label.appendChild(tick); label.appendChild(document.createTextNode(' Non sono un robot'));
  box.appendChild(label); box.appendChild(token);
}});
"""


def _fake_google(route: Route) -> None:
    route.fulfill(status=200, content_type="text/javascript", body=RECAPTCHA_API_JS)


def _mailbox_text(page: Page) -> str:
    page.goto("/sviluppo/posta/")
    return page.locator("main").text_content() or ""  # the raw e-mail files sit in closed <details>


def test_holder_recovers_the_password_with_user_code_sms_and_e_mail_link(
    page: Page, world: World, worker_process: Worker, recaptcha, settings, tmp_path: Path  # noqa: F811
):
    sms_folder, mail_folder = tmp_path / "sms", tmp_path / "mail"
    settings.SMS_BACKEND = "notifications.backends.sms.FileSmsBackend"
    settings.SMS_FILE_PATH = str(sms_folder)
    settings.EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    settings.EMAIL_FILE_PATH = str(mail_folder)
    worker_process.start(
        ("SMS_BACKEND", settings.SMS_BACKEND), ("SMS_FILE_PATH", str(sms_folder)),
        ("EMAIL_BACKEND", settings.EMAIL_BACKEND), ("EMAIL_FILE_PATH", str(mail_folder)),
    )
    holder = world.alpha.holder
    user_code = holder_user_code_issue(holder=holder)
    page.context.route(re.compile(r"^https://www\.google\.com/recaptcha/api\.js"), _fake_google)

    # Login page → "Recupero password".
    page.goto("/accesso/")
    with page.expect_navigation():
        page.get_by_role("link", name=italian("Password recovery")).click()
    expect(page.locator("main h1")).to_have_text(italian("Password recovery"))
    assert english_leftovers(page) == []

    # Without ticking "Non sono un robot": refused, nothing sent.
    page.fill("#id_user_code", user_code)
    page.fill("#id_username", holder.user.username)
    with page.expect_navigation():
        page.click("main button.btn-primary")
    expect(page.get_by_test_id("captcha")).to_contain_text(italian("Tick the box “I'm not a robot”."))

    page.fill("#id_user_code", user_code)
    page.fill("#id_username", holder.user.username)
    page.check("#recaptcha-stub")
    screenshot(page, "password-recovery-start.png")
    with page.expect_navigation():
        page.click("main button.btn-primary")
    assert path_of(page) == "/accesso/recupero-password/codice/"

    # The SMS arrives (worker → file backend) and shows in the developer mailbox.
    assert eventually(lambda: any(sms_folder.glob("*.json")), timeout=60), worker_process.log()[-3000:]
    code_page = page.url
    _mailbox_text(page)
    # Stored bodies are masked (••••••): the code is only in what the "phone" received, the SMS file.
    sms_text = page.locator("section[aria-labelledby=sms-heading] tbody td.text-break").first.inner_text()
    code = re.search(r"\b(\d{6})\b", sms_text)
    assert code and holder.mobile in page.locator("section[aria-labelledby=sms-heading] tbody tr").first.inner_text(), \
        sms_text
    page.goto(code_page)
    page.fill("#id_code", code.group(1))
    with page.expect_navigation():
        page.click("main form button.btn-primary")
    assert path_of(page) == "/accesso/recupero-password/email-inviata/"
    expect(page.locator("main .alert-success")).to_contain_text("15")

    # The verification e-mail, then its link (valid 15 minutes).
    assert eventually(lambda: any(mail_folder.glob("*.log")), timeout=60), worker_process.log()[-3000:]
    mail_text = _mailbox_text(page)
    link = re.search(r"https?://\S+?(/accesso/recupero-password/nuova/[\w-]+/)", mail_text)
    assert link, mail_text[-3000:]
    page.goto(link.group(1))
    expect(page.locator("main h1")).to_have_text(italian("Set a new password"))
    page.fill("#id_new_password", NEW_PASSWORD)
    page.fill("#id_new_password_confirm", NEW_PASSWORD)
    with page.expect_navigation():
        page.click("main button.btn-primary")
    assert path_of(page) == "/accesso/recupero-password/fatto/"
    screenshot(page, "password-recovery-done.png")

    # The prompt to synchronize the device: log in with the new password, land on the sync page.
    with page.expect_navigation():
        page.get_by_role("link", name=italian("Log in and synchronize the device")).click()
    log_in(page, holder.user.username, NEW_PASSWORD)
    assert path_of(page) == "/dispositivi/sincronizza/"
    assert login_attempt(username=holder.user.username, password=NEW_PASSWORD, portal=Portal.PANEL).outcome \
        is LoginOutcome.SUCCESS
