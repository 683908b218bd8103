# The results' version: one row that triggers change with every write to auditor_proberecord, in the same transaction,
# so that a process keeping values computed from the results (the names search matches, the browsing lists) learns
# that they changed by reading one row by its primary key instead of counting every result (auditor/models.py,
# ResultsVersion). Triggers rather than the application: every write changes it, whatever makes it (a bulk insert, an
# UPDATE of many rows, the cascade of a user's deletion, the admin, a raw statement).
#
# On SQLite, a later migration that alters auditor_proberecord rebuilds the table and drops its triggers: it must
# create them again (tests/test_selectors.py checks that every kind of write changes the version).

import secrets

from django.db import migrations, models

TABLE = "auditor_proberecord"
VERSION = "auditor_resultsversion"

# PostgreSQL: once per statement. random() has 52 random bits; a bigint holds them.
POSTGRESQL = [
    f"""
    CREATE FUNCTION auditor_results_changed() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO {VERSION} (id, changes, removals)
        VALUES (1, (random() * 9e18)::bigint, (random() * 9e18)::bigint)
        ON CONFLICT (id) DO UPDATE SET
            changes = EXCLUDED.changes,
            removals = CASE WHEN TG_ARGV[0] = 'removal' THEN EXCLUDED.removals ELSE {VERSION}.removals END;
        RETURN NULL;
    END
    $$
    """,
    f"""
    CREATE TRIGGER auditor_proberecord_changed AFTER INSERT OR UPDATE ON {TABLE}
    FOR EACH STATEMENT EXECUTE FUNCTION auditor_results_changed('change')
    """,
    f"""
    CREATE TRIGGER auditor_proberecord_removed AFTER DELETE OR TRUNCATE OR UPDATE OF id, name, origin ON {TABLE}
    FOR EACH STATEMENT EXECUTE FUNCTION auditor_results_changed('removal')
    """,
]
POSTGRESQL_REVERSE = [
    f"DROP TRIGGER IF EXISTS auditor_proberecord_changed ON {TABLE}",
    f"DROP TRIGGER IF EXISTS auditor_proberecord_removed ON {TABLE}",
    "DROP FUNCTION IF EXISTS auditor_results_changed()",
]

# SQLite: once per row (it has no statement triggers); random() is a random 64-bit integer.
_CHANGE = f"""
    INSERT INTO {VERSION} (id, changes, removals) VALUES (1, random(), random())
    ON CONFLICT (id) DO UPDATE SET changes = excluded.changes;
"""
_REMOVAL = f"""
    INSERT INTO {VERSION} (id, changes, removals) VALUES (1, random(), random())
    ON CONFLICT (id) DO UPDATE SET changes = excluded.changes, removals = excluded.removals;
"""
SQLITE_TRIGGERS = {
    "auditor_proberecord_inserted": ("AFTER INSERT", _CHANGE),
    "auditor_proberecord_updated": ("AFTER UPDATE", _CHANGE),
    "auditor_proberecord_renamed": ("AFTER UPDATE OF id, name, origin", _REMOVAL),
    "auditor_proberecord_deleted": ("AFTER DELETE", _REMOVAL),
}
SQLITE = [f"CREATE TRIGGER {name} {when} ON {TABLE} BEGIN {body} END" for name, (when, body) in SQLITE_TRIGGERS.items()]
SQLITE_REVERSE = [f"DROP TRIGGER IF EXISTS {name}" for name in SQLITE_TRIGGERS]


def _statements(vendor, forwards):
    if vendor == "postgresql":
        return POSTGRESQL if forwards else POSTGRESQL_REVERSE
    if vendor == "sqlite":
        return SQLITE if forwards else SQLITE_REVERSE
    raise NotImplementedError(f"no results-version triggers for {vendor}")


def create_triggers(apps, schema_editor):
    ResultsVersion = apps.get_model("auditor", "ResultsVersion")
    ResultsVersion.objects.create(pk=1, changes=secrets.randbits(62), removals=secrets.randbits(62))
    for statement in _statements(schema_editor.connection.vendor, forwards=True):
        schema_editor.execute(statement, params=None)


def drop_triggers(apps, schema_editor):
    for statement in _statements(schema_editor.connection.vendor, forwards=False):
        schema_editor.execute(statement, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("auditor", "0009_too_large_failure"),
    ]

    operations = [
        migrations.CreateModel(
            name="ResultsVersion",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "changes",
                    models.BigIntegerField(
                        help_text="A new random value whenever a result is added, replaced or removed."
                    ),
                ),
                (
                    "removals",
                    models.BigIntegerField(
                        help_text="A new random value whenever a result is removed (or its id, name or origin changed)."
                    ),
                ),
            ],
        ),
        migrations.RunPython(create_triggers, drop_triggers),
    ]
