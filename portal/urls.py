"""The shells' URLs: the holder panel (``panel:``), the operator console (``console:``, under
/operatore/) and the login and recovery pages (``accounts:``), each mounting the views of every app."""

from __future__ import annotations

from django.urls import path

from accounts.views import api_clients, auth, contacts, operators, recovery, staff_auth
from accounts.views import console as accounts_console
from accounts.views import panel as accounts_panel
from audit.views import console as audit_console
from certificates.views import console as certificates_console
from certificates.views import panel as certificate_views
from notifications.views import console as notifications_console
from otp.views import console as otp_console
from portal.views import console, panel
from renewal.views import console as renewal_console
from signing.views import panel as signing_views

auth_patterns = (
    [
        path("accesso/", auth.login_view, name="login"),
        path("esci/", auth.logout_view, name="logout"),
        path("lingua/", auth.language_view, name="language"),
        path("sospensione/", certificate_views.without_login_view, name="certificate_without_login"),
        path("accesso/recupero-password/", recovery.password_recovery_view, name="password_recovery"),
        path("accesso/recupero-password/codice/", recovery.password_recovery_code_view, name="password_recovery_code"),
        path(
            "accesso/recupero-password/email-inviata/",
            recovery.password_recovery_email_sent_view,
            name="password_recovery_email_sent",
        ),
        path(
            "accesso/recupero-password/nuova/<str:token>/",
            recovery.password_recovery_reset_view,
            name="password_recovery_reset",
        ),
        path("accesso/recupero-password/fatto/", recovery.password_recovery_done_view, name="password_recovery_done"),
        path("accesso/recupero-nome-utente/", recovery.username_recovery_view, name="username_recovery"),
        path(
            "accesso/recupero-nome-utente/inviato/",
            recovery.username_recovery_sent_view,
            name="username_recovery_sent",
        ),
    ],
    "accounts",
)

panel_patterns = (
    [
        path("", panel.profile_view, name="profile"),
        path("utenza/password/", accounts_panel.password_change_view, name="password_change"),
        path("utenza/telefono/", contacts.phone_view, name="phone"),
        path("utenza/telefono/conferma/", contacts.phone_confirm_view, name="phone_confirm"),
        path("utenza/email/", contacts.email_view, name="email"),
        path("utenza/email/conferma/<str:token>/", contacts.email_confirm_view, name="email_confirm"),
        path("utenza/codice-utente/", accounts_panel.user_code_view, name="user_code"),
        path("dispositivi/", panel.devices_view, name="devices"),
        path("certificato/", certificate_views.certificate_view, name="certificate"),
        path(
            "certificato/scarica/<slug:kind>/", certificate_views.certificate_download_view,
            name="certificate_download",
        ),
        path("certificato/pin/", certificate_views.pin_change_view, name="pin_change"),
        path("certificato/sospendi/", certificate_views.suspend_view, name="certificate_suspend"),
        path("certificato/riattiva/", certificate_views.reactivate_view, name="certificate_reactivate"),
        path("certificato/revoca/", certificate_views.revoke_view, name="certificate_revoke"),
        path("firma/", signing_views.signing_view, name="signing"),
        path("firma/storico/", signing_views.history_view, name="signing_history"),
        path("firma/verifica/", signing_views.validation_view, name="signing_validation"),
        path("notifiche/", panel.notifications_view, name="notifications"),
    ],
    "panel",
)

console_patterns = (
    [
        path("", console.home_view, name="home"),
        path("accesso/", auth.console_login_view, name="login"),
        path("accesso/secondo-fattore/", staff_auth.second_factor_view, name="second_factor"),
        path("attivazione/fattore/", staff_auth.enrolment_factor_view, name="enrolment_factor"),
        path("attivazione/<str:token>/", staff_auth.enrolment_view, name="enrolment"),
        path("sicurezza/", staff_auth.security_view, name="security"),
        path("sicurezza/aggiungi/", staff_auth.security_add_view, name="security_add"),
        path("sicurezza/<slug:kind>/<str:public_id>/rimuovi/", staff_auth.security_remove_view,
             name="security_remove"),
        path("operatori/", operators.team_view, name="team"),
        path("operatori/invita/", operators.team_invite_view, name="team_invite"),
        path("operatori/<int:operator_id>/", operators.team_member_view, name="team_member"),
        path("operatori/<int:operator_id>/<slug:action>/", operators.team_member_action_view,
             name="team_member_action"),
        path("titolari/nuovo/", certificates_console.holder_new_view, name="holder_new"),
        path("titolari/<int:holder_id>/", console.holder_detail_view, name="holder_detail"),
        path("titolari/<int:holder_id>/certificati/emetti/", certificates_console.certificate_issue_view,
             name="certificate_issue"),
        path("titolari/<int:holder_id>/certificati/<int:certificate_id>/attivazione/",
             certificates_console.activation_resend_view, name="activation_resend"),
        path("titolari/<int:holder_id>/certificati/<int:certificate_id>/sospendi/",
             certificates_console.certificate_suspend_view, name="certificate_suspend"),
        path("titolari/<int:holder_id>/certificati/<int:certificate_id>/riattiva/",
             certificates_console.certificate_reactivate_view, name="certificate_reactivate"),
        path("titolari/<int:holder_id>/certificati/<int:certificate_id>/revoca/",
             certificates_console.certificate_revoke_view, name="certificate_revoke"),
        path("titolari/<int:holder_id>/sblocca-accesso/", accounts_console.holder_unlock_view, name="holder_unlock"),
        path("titolari/<int:holder_id>/token/", otp_console.token_assign_view, name="token_assign"),
        path(
            "titolari/<int:holder_id>/dispositivi/<str:device_id>/sblocca/",
            otp_console.device_unlock_view,
            name="device_unlock",
        ),
        path(
            "titolari/<int:holder_id>/sms/invia/", otp_console.sms_enrolment_send_view, name="sms_enrolment_send"
        ),
        path("organizzazione/", accounts_console.organization_view, name="organization"),
        path("api/", api_clients.api_clients_view, name="api_clients"),
        path("api/nuovo/", api_clients.api_client_create_view, name="api_client_create"),
        path("api/<int:api_client_id>/revoca/", api_clients.api_client_revoke_view, name="api_client_revoke"),
        path("certificati/in-scadenza/", renewal_console.certificates_expiring_view,
             name="certificates_expiring"),
        path("certificati/da-attivare/", renewal_console.certificates_to_activate_view,
             name="certificates_to_activate"),
        path("rinnovi/", renewal_console.renewals_view, name="renewals"),
        path("rinnovi/decise/", renewal_console.renewals_decided_view, name="renewals_decided"),
        path("rinnovi/approva/", renewal_console.renewals_approve_view, name="renewals_approve"),
        path("rinnovi/<int:request_id>/", renewal_console.renewal_detail_view, name="renewal_detail"),
        path("rinnovi/<int:request_id>/approva/", renewal_console.renewal_approve_view, name="renewal_approve"),
        path("rinnovi/<int:request_id>/rifiuta/", renewal_console.renewal_reject_view, name="renewal_reject"),
        path("rinnovi/<int:request_id>/modulo-firmato.pdf", renewal_console.renewal_signed_form_view,
             name="renewal_signed_form"),
        path("messaggi/", notifications_console.messages_view, name="messages"),
        path("messaggi/<int:message_id>/riprova/", notifications_console.message_retry_view, name="message_retry"),
        path("registro/", audit_console.audit_view, name="audit"),
        path("registro/esporta.csv", audit_console.audit_export_view, name="audit_export"),
    ],
    "console",
)
