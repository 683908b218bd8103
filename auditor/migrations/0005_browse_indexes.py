# Indexes for search and the browsing lists at scale (bench/search_scale.py: 100,000 results).

from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("auditor", "0004_crawl"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name="proberecord",
            name="probe_record_origin_name",
        ),
        migrations.AddIndex(
            model_name="auditdistribution",
            index=models.Index(fields=["name"], name="audit_distribution_name"),
        ),
        migrations.AddIndex(
            model_name="proberecord",
            index=models.Index(fields=["origin", "name", "version"], name="probe_record_origin_name_ver"),
        ),
        migrations.AddIndex(
            model_name="proberecord",
            index=models.Index(fields=["origin", "verdict", "name"], name="probe_record_origin_verdict"),
        ),
    ]
