# Reports read events by time range: on PostgreSQL a BRIN index on Event.at (rows are
# appended in time order, so a block range summary is tiny and exact enough).
from django.db import migrations


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "CREATE INDEX IF NOT EXISTS interactions_event_at_brin "
            "ON interactions_event USING brin (at)"
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS interactions_event_at_brin")


class Migration(migrations.Migration):
    dependencies = [("interactions", "0008_recording_transcript_policy")]

    operations = [migrations.RunPython(create, drop, elidable=False)]
