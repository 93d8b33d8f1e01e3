"""The customers' messages moved to ``notices`` (``notices/migrations/0002_messages_from_payments.py`` copies
them first)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("payments", "0002_customernotification_no_contact"),
        ("notices", "0002_messages_from_payments"),
    ]

    operations = [
        migrations.DeleteModel(name="CustomerNotification"),
    ]
