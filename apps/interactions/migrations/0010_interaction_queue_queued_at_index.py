# Today's figures of a queue (wallboard, queue statistics, alerts) read a range of queued_at per
# queue: bench/wallboard.py measured a board over 2.1M rows at 198 ms without it, 50 ms with it.
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("interactions", "0009_recording_source_voicemail"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="interaction",
            index=models.Index(fields=["queue", "queued_at"], name="interaction_queue_queued_at"),
        ),
    ]
