# The newest result stored, found by an index: part of the fingerprint that tells a process the results changed.

from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("auditor", "0005_browse_indexes"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddIndex(
            model_name="proberecord",
            index=models.Index(fields=["created"], name="probe_record_created"),
        ),
    ]
