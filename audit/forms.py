"""The filters of the audit console (shape only; the reads are audit.selectors')."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

# Dates outside these are typing mistakes (and would overflow the time-zone arithmetic at year 1 or 9999).
FIRST_DAY = date(2000, 1, 1)
LAST_DAY = date(2099, 12, 31)
DATE_INPUT_FORMATS = ["%Y-%m-%d", "%d/%m/%Y"]


class AuditFilterForm(forms.Form):
    actor = forms.CharField(
        label=gettext_lazy("Person (username or part of it)"), required=False, max_length=150,
        widget=forms.TextInput(attrs={"class": "form-control", "autocomplete": "off"}),
    )
    event_type = forms.ChoiceField(
        label=gettext_lazy("Event type"), required=False, widget=forms.Select(attrs={"class": "form-control"}),
    )
    date_from = forms.DateField(
        label=gettext_lazy("From day"), required=False, input_formats=DATE_INPUT_FORMATS,
        widget=forms.DateInput(attrs={"class": "form-control", "type": "date"}, format="%Y-%m-%d"),
    )
    date_to = forms.DateField(
        label=gettext_lazy("To day (included)"), required=False, input_formats=DATE_INPUT_FORMATS,
        widget=forms.DateInput(attrs={"class": "form-control", "type": "date"}, format="%Y-%m-%d"),
    )

    def __init__(self, *args: Any, event_types: Iterable[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        event_types = list(event_types)
        families = sorted({f"{event_type.split('.', 1)[0]}." for event_type in event_types if "." in event_type})
        choices: list[Any] = [("", _("All types"))]
        if families:
            choices.append((_("Every type of a group"), [(family, f"{family}*") for family in families]))
        if event_types:
            choices.append((_("One type"), [(event_type, event_type) for event_type in event_types]))
        event_type_field = self.fields["event_type"]
        assert isinstance(event_type_field, forms.ChoiceField)  # declared above
        event_type_field.choices = choices

    def _day(self, name: str) -> date | None:
        day = self.cleaned_data.get(name)
        if day is not None and not FIRST_DAY <= day <= LAST_DAY:
            raise ValidationError(
                _("Enter a day between %(first)s and %(last)s.")
                % {"first": FIRST_DAY.strftime("%d/%m/%Y"), "last": LAST_DAY.strftime("%d/%m/%Y")},
                code="out_of_range",
            )
        return day

    def clean_date_from(self) -> date | None:
        return self._day("date_from")

    def clean_date_to(self) -> date | None:
        return self._day("date_to")

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        date_from, date_to = cleaned.get("date_from"), cleaned.get("date_to")
        if date_from and date_to and date_to < date_from:
            self.add_error("date_to", _("The last day comes before the first one: swap them."))
        return cleaned

    def filters(self) -> dict[str, Any]:
        """The selector's keyword arguments (call once the form is valid)."""
        data = self.cleaned_data
        return {
            "actor": data.get("actor") or "",
            "event_type": data.get("event_type") or "",
            "date_from": data.get("date_from"),
            "date_to": data.get("date_to"),
        }
