"""Blocked certificates are listed as revoked (cessationOfOperation, at the block time).

Certificates blocked before this migration were still answered "good" by OCSP and missing from the
CRL: they get the same reason and time here, and the next ``crl_refresh`` (the beat job, within
minutes) finds the stored CRL no longer matches the database and republishes it.
"""

from django.db import migrations, models


def list_blocked_as_revoked(apps, schema_editor):
    Certificate = apps.get_model("certificates", "Certificate")
    for certificate in Certificate.objects.filter(state="blocked").filter(
        models.Q(revocation_reason="") | models.Q(revocation_time__isnull=True)
    ):
        certificate.revocation_reason = "cessation_of_operation"
        certificate.revocation_time = certificate.blocked_at or certificate.status_changed_at
        certificate.save(update_fields=["revocation_reason", "revocation_time"])


class Migration(migrations.Migration):

    dependencies = [
        ("certificates", "0003_merge_activation_reminders"),
    ]

    operations = [
        migrations.RunPython(list_blocked_as_revoked, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="certificate",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("state", "blocked"), _negated=True),
                    models.Q(
                        ("revocation_time__isnull", False),
                        models.Q(("revocation_reason__in", ["", "certificate_hold"]), _negated=True),
                    ),
                    _connector="OR",
                ),
                name="certificate_blocked_is_listed",
            ),
        ),
    ]
