"""The customers' messages moved to ``notices`` (``notices/migrations/0002_messages_from_payments.py`` copies
them first)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("payments", "0004_store_credit_and_offline_transfers"),
        ("notices", "0002_messages_from_payments"),
    ]

    operations = [
        migrations.DeleteModel(name="CustomerNotification"),
    ]
