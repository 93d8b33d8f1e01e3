"""The rejection reasons a shop starts with; supervisors reword, reorder and retire them in the console."""

from typing import Any

from django.db import migrations

# code, Chinese, English, needs a note
DEFAULTS = [
    ("photos_not_proof", "照片不能证明质量问题", "The photos do not show a quality problem", False),
    ("after_sale_expired", "已超过售后期", "The after-sales period has ended", False),
    ("received_no_issue", "商品已签收且无质量问题", "The goods were received without a quality problem", False),
    ("duplicate", "重复申请", "Duplicate request", False),
    ("other", "其他", "Other", True),
]


def seed(apps: Any, schema_editor: Any) -> None:
    reason = apps.get_model("refunds", "RejectionReason")
    for position, (code, zh, en, needs_note) in enumerate(DEFAULTS, start=1):
        reason.objects.get_or_create(
            code=code,
            defaults={"label_zh_hans": zh, "label_en": en, "needs_note": needs_note, "position": position * 10},
        )


def unseed(apps: Any, schema_editor: Any) -> None:
    # Only the defaults nobody has used: a reason a refund names stays (PROTECT), with the model it belongs to.
    reason = apps.get_model("refunds", "RejectionReason")
    refund = apps.get_model("refunds", "Refund")
    used = refund.objects.filter(rejection_reason__isnull=False).values("rejection_reason")
    reason.objects.filter(code__in=[code for code, *_ in DEFAULTS]).exclude(pk__in=used).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("refunds", "0004_rejection_reasons"),
    ]

    operations = [migrations.RunPython(seed, unseed)]
