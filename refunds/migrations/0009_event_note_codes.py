"""Timeline notes become text codes with parameters, rendered in each reader's language (``mall.texts``).

Existing notes were stored already translated, in the language of whoever acted. A note that is exactly the
rendering, in any of the site's languages, of a text without parameters ("已批准", "approved") becomes that text's
code; every other note is kept as it was written, as the literal text ``text``. Going back renders each note in
the shop's language."""

from typing import Any

from django.conf import settings
from django.db import migrations, models
from django.db.models import Case, F, Value, When
from django.db.models.functions import JSONObject
from django.utils import translation

from mall.texts import text_codes, text_render

BATCH = 1000


def _known_renderings() -> dict[str, str]:
    """Every site language's rendering of each text without parameters, to its code."""
    known: dict[str, str] = {}
    for code, defined in sorted(text_codes().items()):
        if code == "text" or "%(" in str(defined.template):
            continue
        for language, _name in settings.LANGUAGES:
            with translation.override(language):
                known.setdefault(str(defined.template), code)
    return known


def notes_to_codes(apps: Any, schema_editor: Any) -> None:
    RefundEvent = apps.get_model("refunds", "RefundEvent")
    known = _known_renderings()
    whens = [When(note=rendering, then=Value(code)) for rendering, code in known.items()]
    # One statement over the table: the known renderings to their codes, everything else kept as typed.
    RefundEvent.objects.exclude(note="").update(
        note_code=Case(*whens, default=Value("text"), output_field=models.CharField()),
        note_params=Case(
            When(note__in=list(known), then=Value({}, output_field=models.JSONField())),
            default=JSONObject(text=F("note")),
            output_field=models.JSONField(),
        ),
    )


def codes_to_notes(apps: Any, schema_editor: Any) -> None:
    RefundEvent = apps.get_model("refunds", "RefundEvent")
    last = 0
    with translation.override(settings.LANGUAGE_CODE):
        while True:
            page = list(
                RefundEvent.objects.filter(pk__gt=last)
                .exclude(note_code="")
                .order_by("pk")
                .only("pk", "note_code", "note_params")[:BATCH]
            )
            if not page:
                return
            for event in page:
                event.note = text_render(event.note_code, event.note_params)[:500]
            RefundEvent.objects.bulk_update(page, ["note"])
            last = page[-1].pk


class Migration(migrations.Migration):
    dependencies = [
        ("refunds", "0008_refund_needs_supervisor"),
    ]

    operations = [
        migrations.AddField(
            model_name="refundevent",
            name="note_code",
            field=models.CharField(blank=True, max_length=48, verbose_name="note"),
        ),
        migrations.AddField(
            model_name="refundevent",
            name="note_params",
            field=models.JSONField(blank=True, default=dict, verbose_name="note parameters"),
        ),
        migrations.RunPython(notes_to_codes, codes_to_notes, elidable=False),
        migrations.RemoveField(model_name="refundevent", name="note"),
    ]
