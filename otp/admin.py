"""Django admin for platform administrators: the OTP device inventory, read-only, and the token import."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template import engines
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.functional import Promise
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from audit.admin import AuditedAdmin
from core.errors import ApplicationError
from core.ratelimit import client_ip
from otp.importing import MAX_FILE_BYTES, tokens_import
from otp.models import OtpDevice

# The two pages are tiny extensions of Django admin's own templates, kept here as strings (they hold
# no text of their own: every label comes from the context, translated in Python).
_CHANGE_LIST = """{% extends "admin/change_list.html" %}
{% block object-tools-items %}{% if import_url %}<li><a href="{{ import_url }}" class="addlink">{{ import_label }}</a>
</li>{% endif %}{{ block.super }}{% endblock %}"""

_IMPORT_PAGE = """{% extends "admin/base_site.html" %}{% load i18n static admin_urls %}
{% block extrastyle %}{{ block.super }}<link rel="stylesheet" href="{% static "admin/css/forms.css" %}">{% endblock %}
{% block bodyclass %}{{ block.super }} app-{{ opts.app_label }} model-{{ opts.model_name }}{% endblock %}
{% block breadcrumbs %}<div class="breadcrumbs"><a href="{% url 'admin:index' %}">{% translate 'Home' %}</a>
&rsaquo; <a href="{% url 'admin:app_list' app_label=opts.app_label %}">{{ opts.app_config.verbose_name }}</a>
&rsaquo; <a href="{% url opts|admin_urlname:'changelist' %}">{{ opts.verbose_name_plural|capfirst }}</a>
&rsaquo; {{ title }}</div>{% endblock %}
{% block content %}<div id="content-main">
{% if error %}<p class="errornote" role="alert" id="import-error">{{ error }}</p>{% endif %}
{% if report %}<div class="module" id="import-report"><h2>{{ report.summary }}</h2>
{% if report.imported %}<h3>{{ labels.imported }}</h3><p>{{ report.imported|join:", " }}</p>{% endif %}
{% for heading, problems in sections %}{% if problems %}<h3>{{ heading }}</h3>
<table><thead><tr><th scope="col">{{ labels.row }}</th><th scope="col">{{ labels.serial }}</th>
<th scope="col">{{ labels.reason }}</th></tr></thead><tbody>
{% for problem in problems %}<tr><td>{{ problem.row }}</td><td>{{ problem.serial|default:"–" }}</td>
<td>{{ problem.reason }}</td></tr>{% endfor %}</tbody></table>{% endif %}{% endfor %}</div>{% endif %}
<form method="post" enctype="multipart/form-data" novalidate>{% csrf_token %}
<p>{{ labels.intro }}</p>
{% if form.non_field_errors %}<p class="errornote">{{ form.non_field_errors|join:" " }}</p>{% endif %}
<fieldset class="module aligned">{% for field in form %}<div class="form-row{% if field.errors %} errors{% endif %}">
{{ field.errors }}<div>{{ field.label_tag }} {{ field }}{% if field.help_text %}
<div class="help">{{ field.help_text }}</div>{% endif %}</div></div>{% endfor %}</fieldset>
<div class="submit-row"><input type="submit" value="{{ labels.submit }}" class="default"></div>
</form></div>{% endblock %}"""


def _template(source: str) -> Any:
    return engines["django"].from_string(source)


class TokenImportForm(forms.Form):
    file = forms.FileField(
        label=_("Seed file"),
        help_text=_("CSV (serial,key,type,digits,counter_or_period) or PSKC (RFC 6030), at most 4 MiB."),
    )
    passphrase = forms.CharField(
        label=_("Passphrase"), required=False, strip=False, max_length=1024,
        widget=forms.PasswordInput(attrs={"autocomplete": "off"}),
        help_text=_("Only for a PSKC file protected by a passphrase."),
    )
    psk_hex = forms.CharField(
        label=_("Pre-shared key (hexadecimal)"), required=False, max_length=200,
        widget=forms.PasswordInput(attrs={"autocomplete": "off"}),
        help_text=_("Only for a PSKC file encrypted with a key agreed with the vendor."),
    )

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        if upload.size > MAX_FILE_BYTES:
            raise forms.ValidationError(
                _("The file is larger than %(size)s MiB."), params={"size": MAX_FILE_BYTES // 2**20}
            )
        return upload

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        assert cleaned is not None  # Form.clean returns the cleaned data
        if cleaned.get("passphrase") and cleaned.get("psk_hex"):
            raise forms.ValidationError(_("Give either a passphrase or a pre-shared key, not both."))
        return cleaned


@admin.register(OtpDevice)
class OtpDeviceAdmin(AuditedAdmin):
    """The inventory as it is: devices change only through their services, never by hand here."""

    list_display = ("serial", "kind", "state", "holder")
    list_filter = ("kind", "state")
    search_fields = ("serial",)
    list_select_related = ("holder",)
    # No seed field (key id, nonce, ciphertext) is ever shown.
    fields = (
        "public_id", "serial", "kind", "state", "holder", "algorithm", "digits", "period", "counter",
        "failure_count", "locked_at", "created_at", "confirmed_at", "last_used_at",
    )
    readonly_fields = fields
    change_list_template = _template(_CHANGE_LIST)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # tokens arrive by import, apps and SMS by enrolment

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_import_permission(self, request: HttpRequest) -> bool:
        user = request.user
        return bool(user.is_active and user.is_staff and user.has_perm("otp.add_otpdevice"))

    def get_urls(self) -> list[URLPattern]:
        name = f"{self.opts.app_label}_{self.opts.model_name}_import"
        return [path("import/", self.admin_site.admin_view(self.import_view), name=name), *super().get_urls()]

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        extra_context = dict(extra_context or {})
        if self.has_import_permission(request):
            extra_context["import_url"] = reverse(f"{self.admin_site.name}:otp_otpdevice_import")
            extra_context["import_label"] = gettext("Import tokens")
        return super().changelist_view(request, extra_context)

    def import_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_import_permission(request):
            raise PermissionDenied
        report = None
        error: str | Promise | None = None
        status = 200
        form = TokenImportForm()
        if request.method == "POST":
            if _declared_length(request) > MAX_FILE_BYTES + 64 * 1024:
                # Refused before Django reads the body into memory or a temporary file.
                error = gettext("The file is larger than %(size)s MiB.") % {"size": MAX_FILE_BYTES // 2**20}
                status = 413
            else:
                form = TokenImportForm(request.POST, request.FILES)
                if form.is_valid():
                    upload = form.cleaned_data["file"]
                    try:
                        report = tokens_import(
                            content=b"".join(upload.chunks()), filename=upload.name or "", actor=request.user,
                            passphrase=form.cleaned_data["passphrase"] or None,
                            psk_hex=form.cleaned_data["psk_hex"] or None, ip=client_ip(request),
                        )
                    except ApplicationError as exc:
                        error, status = exc.message, 400
                    else:
                        form = TokenImportForm()
                else:
                    status = 400
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": gettext("Import tokens"),
            "form": form,
            "report": report,
            "error": error,
            "sections": [
                (gettext("Duplicates (not imported)"), report.duplicates if report else []),
                (gettext("Rejected rows"), report.rejected if report else []),
            ],
            "labels": {
                "intro": gettext(
                    "Hardware tokens are added to the inventory in stock, ready to be assigned to a holder by "
                    "their 13-digit serial. A file with a structural problem is refused as a whole; bad rows are "
                    "listed and skipped."
                ),
                "imported": gettext("Imported"),
                "row": gettext("Row"),
                "serial": gettext("Serial"),
                "reason": gettext("Reason"),
                "submit": gettext("Import"),
            },
        }
        return TemplateResponse(request, _template(_IMPORT_PAGE), context, status=status)


def _declared_length(request: HttpRequest) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0
