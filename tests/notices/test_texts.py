"""Texts stored as codes with parameters and rendered when read (``mall.texts``): in the active language, with
amounts, labels, nested texts and lists shown for the reader; what a person typed stays as typed; nothing stored
is ever unreadable."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import translation
from django.utils.translation import gettext_lazy

from mall.models import Channel
from mall.texts import Text, as_text, label, literal, money, text_code, text_codes, text_render
from refunds import texts as refund_texts
from refunds.models import DisputeOutcome
from refunds.texts import DISPUTE_RESOLVED, ESCALATED, OUT_OF_STOCK

SHOWN = text_code("test.shown", "%(amount)s to %(channel)s, %(count)d pieces", amount=money, channel=label(Channel))


def test_a_text_is_its_code_and_storable_parameters() -> None:
    text = SHOWN(amount=Decimal("1234.5"), channel=Channel.WECHAT, count=3)
    assert text == Text("test.shown", {"amount": "1234.5", "channel": "wechat", "count": 3})
    assert text.as_json() == {"code": "test.shown", "params": {"amount": "1234.5", "channel": "wechat", "count": 3}}


@pytest.mark.parametrize(
    ("language", "expected"),
    [("zh-hans", "¥1,234.50 to 微信支付, 3 pieces"), ("en", "¥1,234.50 to WeChat Pay, 3 pieces")],
)
def test_rendered_in_the_active_language(language: str, expected: str) -> None:
    text = SHOWN(amount=Decimal("1234.5"), channel=Channel.WECHAT, count=3)
    with translation.override(language):
        assert str(text) == expected


def test_a_label_and_a_nested_text_follow_the_reader() -> None:
    resolved = DISPUTE_RESOLVED(outcome=DisputeOutcome.REJECT)
    escalated = ESCALATED(reason=resolved)
    assert escalated.params == {"reason": {"code": "dispute_resolved", "params": {"outcome": "reject"}}}
    with translation.override("en"):
        assert str(escalated) == "escalated: dispute resolved: rejected: the decision stands"
    with translation.override("zh-hans"):
        assert str(escalated) == "已升级：纠纷已处理：驳回：维持原决定"


def test_a_list_is_joined_the_readers_way() -> None:
    text = OUT_OF_STOCK(items=["梨 × 3", "李子 × 2"])
    with translation.override("en"):
        assert (
            str(text)
            == "Sorry, we could not supply 梨 × 3; 李子 × 2: it is out of stock. Its price is refunded to you."
        )
    with translation.override("zh-hans"):
        assert str(text) == "抱歉，梨 × 3；李子 × 2 缺货，无法为您供应，相应货款将退还给您。"


def test_words_typed_by_a_person_stay_as_typed_in_every_language() -> None:
    typed = literal("  the photos show no damage  ")
    assert typed == Text("text", {"text": "the photos show no damage"})
    with translation.override("zh-hans"):
        assert str(typed) == "the photos show no damage"
    assert as_text("x" * 600) == Text("text", {"text": "x" * 500})
    assert as_text("   ") == as_text(None) == Text("")
    assert str(Text("")) == ""


def test_a_lazy_translation_without_a_code_is_kept_in_the_shops_language() -> None:
    with translation.override("en"):  # the writer's language does not matter
        assert as_text(gettext_lazy("approved")) == Text("text", {"text": "已同意"})


def test_a_translated_string_is_refused_as_a_parameter() -> None:
    with pytest.raises(TypeError, match="not a translated string"):
        ESCALATED(reason=gettext_lazy("approved"))


def test_what_is_stored_is_never_unreadable() -> None:
    assert text_render("a_code_no_longer_defined", {"text": "kept words"}) == "kept words"
    assert text_render("a_code_no_longer_defined", {"other": 1}) == ""
    assert text_render("escalated", {}) == "已升级："  # a missing parameter shows as nothing
    assert text_render("escalated", None) == text_render("escalated", {})
    assert text_render("auto_rate_flagged", {"refunds": "not a number"}) == str(
        refund_texts.AUTO_RATE_FLAGGED.template
    )  # a parameter of the wrong kind: the template, not an error


def test_a_code_is_defined_once() -> None:
    with pytest.raises(ValueError, match="defined twice"):
        text_code("approved", "approved again")
    assert text_codes()["approved"] is refund_texts.APPROVED
