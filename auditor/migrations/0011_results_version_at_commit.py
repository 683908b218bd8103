# The results' version (migration 0010) is changed at commit, not at the first write: on PostgreSQL, 0010's statement
# triggers took the version row with a transaction's first write to the results and held it until the transaction
# ended, so a long one (a dataset import, one transaction for the whole import) made every other writer of results
# wait for it, and one that wrote a key another transaction had just written while that one waited for the row
# deadlocked with it. Here the row is changed by constraint triggers deferred to the commit: taken at commit, once,
# and held only while the commit ends. What a reader sees is the same: a transaction's results and its change of the
# version become visible together, when it commits.
#
# Besides, on both databases, a removal is counted only when an update changes an id, a name or an origin, not
# whenever one of them is set (the admin saves every field of a result: each save had every process read all the
# names again).
#
# PostgreSQL, per row, with two guards, both transaction-local settings that a rolled-back savepoint takes back as it
# takes back what its statements queued:
# - the WHEN of each trigger queues one event per statement that writes (per client command: its
#   statement_timestamp()), not one per row: a dataset import of 100,000 results queues a few hundred, not 100,000;
# - the function changes the row once per command that fires the events: at commit, once for the whole transaction
#   (twice when it removed results too: `removals` is changed even after `changes` was). In a transaction that asks
#   for them to fire at once (`SET CONSTRAINTS ... IMMEDIATE`: the tests' transactions, never committed,
#   tests/conftest.py), they fire after each statement, as 0010's statement triggers did.
# TRUNCATE cannot fire a constraint (row) trigger: a statement trigger, as before; TRUNCATE locks the whole table until
# commit anyway.
#
# The row is taken at commit but not quite last: the foreign key checks (deferred too) of the rows written after a
# transaction's first write to the results are made after it.
#
# On SQLite (which serializes writers anyway) the triggers stay as 0010 made them, per row, but for the removal's
# condition. A later migration that alters auditor_proberecord rebuilds the table on SQLite and drops its triggers:
# it must create them again. On PostgreSQL one that changes the type of id, name or origin is refused while the
# triggers name those columns: it must drop them first and create them again.

import importlib

from django.db import migrations

TABLE = "auditor_proberecord"
VERSION = "auditor_resultsversion"

previous = importlib.import_module("auditor.migrations.0010_results_version")


def _once_per_statement(setting: str) -> str:
    """A condition true for the first row of each statement (client command) only, in a transaction."""
    return (
        f"CASE WHEN current_setting('{setting}', true) IS NOT DISTINCT FROM statement_timestamp()::text THEN false "
        f"ELSE set_config('{setting}', statement_timestamp()::text, true) IS NOT NULL END"
    )


# An update that leaves a result's id, name and origin as they were removes nothing.
_SAME_NAME = (
    "OLD.id IS NOT DISTINCT FROM NEW.id AND OLD.name IS NOT DISTINCT FROM NEW.name "
    "AND OLD.origin IS NOT DISTINCT FROM NEW.origin"
)

POSTGRESQL_FUNCTION = f"""
    CREATE FUNCTION auditor_results_changed() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        removal boolean := TG_ARGV[0] = 'removal';
        firing text := statement_timestamp()::text;
    BEGIN
        -- Once per command that fires the events (COMMIT: once per transaction); a removal changes both values.
        IF current_setting('forkaudit.results_removed', true) IS NOT DISTINCT FROM firing
                OR (NOT removal AND current_setting('forkaudit.results_changed', true) IS NOT DISTINCT FROM firing) THEN
            RETURN NULL;
        END IF;
        INSERT INTO {VERSION} (id, changes, removals)
        VALUES (1, (random() * 9e18)::bigint, (random() * 9e18)::bigint)
        ON CONFLICT (id) DO UPDATE SET
            changes = EXCLUDED.changes,
            removals = CASE WHEN removal THEN EXCLUDED.removals ELSE {VERSION}.removals END;
        PERFORM set_config('forkaudit.results_changed', firing, true);
        IF removal THEN
            PERFORM set_config('forkaudit.results_removed', firing, true);
        END IF;
        RETURN NULL;
    END
    $$
"""
_DEFERRED = "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW"
POSTGRESQL_TRIGGERS = {
    "auditor_proberecord_changed": (
        f"CREATE CONSTRAINT TRIGGER auditor_proberecord_changed AFTER INSERT OR UPDATE ON {TABLE} {_DEFERRED} "
        f"WHEN ({_once_per_statement('forkaudit.results_change_queued')}) "
        "EXECUTE FUNCTION auditor_results_changed('change')"
    ),
    "auditor_proberecord_deleted": (
        f"CREATE CONSTRAINT TRIGGER auditor_proberecord_deleted AFTER DELETE ON {TABLE} {_DEFERRED} "
        f"WHEN ({_once_per_statement('forkaudit.results_removal_queued')}) "
        "EXECUTE FUNCTION auditor_results_changed('removal')"
    ),
    "auditor_proberecord_renamed": (
        f"CREATE CONSTRAINT TRIGGER auditor_proberecord_renamed AFTER UPDATE OF id, name, origin ON {TABLE} "
        f"{_DEFERRED} WHEN (CASE WHEN {_SAME_NAME} THEN false "
        f"ELSE {_once_per_statement('forkaudit.results_removal_queued')} END) "
        "EXECUTE FUNCTION auditor_results_changed('removal')"
    ),
    "auditor_proberecord_truncated": (
        f"CREATE TRIGGER auditor_proberecord_truncated AFTER TRUNCATE ON {TABLE} "
        "FOR EACH STATEMENT EXECUTE FUNCTION auditor_results_changed('removal')"
    ),
}
POSTGRESQL = [POSTGRESQL_FUNCTION, *POSTGRESQL_TRIGGERS.values()]
POSTGRESQL_REVERSE = [
    *(f"DROP TRIGGER IF EXISTS {name} ON {TABLE}" for name in POSTGRESQL_TRIGGERS),
    "DROP FUNCTION IF EXISTS auditor_results_changed()",
]

# SQLite: once per row (it has no statement triggers), as 0010 made them; a removal on an update only when it changes
# an id, a name or an origin.
_CHANGE, _REMOVAL = previous._CHANGE, previous._REMOVAL
SQLITE_TRIGGERS = {
    "auditor_proberecord_inserted": ("AFTER INSERT", "", _CHANGE),
    "auditor_proberecord_updated": ("AFTER UPDATE", "", _CHANGE),
    "auditor_proberecord_renamed": (
        "AFTER UPDATE OF id, name, origin",
        "WHEN OLD.id IS NOT NEW.id OR OLD.name IS NOT NEW.name OR OLD.origin IS NOT NEW.origin",
        _REMOVAL,
    ),
    "auditor_proberecord_deleted": ("AFTER DELETE", "", _REMOVAL),
}
SQLITE = [
    f"CREATE TRIGGER {name} {event} ON {TABLE} {condition} BEGIN {body} END"
    for name, (event, condition, body) in SQLITE_TRIGGERS.items()
]
SQLITE_REVERSE = [f"DROP TRIGGER IF EXISTS {name}" for name in SQLITE_TRIGGERS]


def _statements(vendor, forwards):
    if vendor == "postgresql":
        return previous.POSTGRESQL_REVERSE + POSTGRESQL if forwards else POSTGRESQL_REVERSE + previous.POSTGRESQL
    if vendor == "sqlite":
        return previous.SQLITE_REVERSE + SQLITE if forwards else SQLITE_REVERSE + previous.SQLITE
    raise NotImplementedError(f"no results-version triggers for {vendor}")


def replace_triggers(apps, schema_editor):
    for statement in _statements(schema_editor.connection.vendor, forwards=True):
        schema_editor.execute(statement, params=None)


def restore_triggers(apps, schema_editor):
    for statement in _statements(schema_editor.connection.vendor, forwards=False):
        schema_editor.execute(statement, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("auditor", "0010_results_version"),
    ]

    operations = [
        migrations.RunPython(replace_triggers, restore_triggers),
    ]
