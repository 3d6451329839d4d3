# The app's first migration: the tables come in the migrations that follow it.
from django.db import migrations


class Migration(migrations.Migration):
    initial = True

    dependencies = []

    operations = []
