"""Texts stored as codes with parameters, rendered in the reader's language when they are read.

A note on a refund's timeline or a message to a customer is not stored in the language of whoever caused it: it
is stored as a code and its parameters (JSON), and rendered when it is read, in the reader's language (the API's
Accept-Language, the staff member's console, the customer's language for an email). Each app defines the codes of
its own texts with ``text_code``: a translatable template, and for a parameter that is a label (a choice's value)
or an amount, how to show it. A parameter may itself be a text (a reason inside a message), or a list of texts.
What a person typed stays as typed: the code ``text`` (``literal``).

    APPROVED = text_code("approved", _("approved"))
    ESCALATED = text_code("escalated", _("escalated: %(reason)s"))
    event.note_code, event.note_params = ESCALATED(reason=other_text)   # stored
    str(ESCALATED(reason=...))                                        # rendered in the active language
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, TypeAlias

from django.conf import settings
from django.db import models
from django.utils import translation
from django.utils.functional import Promise
from django.utils.translation import pgettext

from mall.money import yuan

logger = logging.getLogger(__name__)

Shown: TypeAlias = Callable[[Any], str]  # how one parameter's stored value is shown to a reader
Params: TypeAlias = dict[str, Any]


@dataclass(frozen=True, eq=True)
class Text:
    """A text to store (``code``, ``params``) and to render when read: ``str(text)`` is the active language's."""

    code: str
    params: Params = field(default_factory=dict)

    def __str__(self) -> str:
        return text_render(self.code, self.params)

    def as_json(self) -> Params:
        return {"code": self.code, "params": self.params}


Note: TypeAlias = Text | str | Promise  # what the writers of notes pass: a text, or words typed by a person


class TextCode:
    """One kind of text: its code, its translatable template and how its parameters are shown. Calling it
    makes a ``Text`` of this code (parameters made storable: amounts as strings, texts as ``{code, params}``)."""

    def __init__(self, code: str, template: str | Promise, shown: Mapping[str, Shown] | None = None) -> None:
        self.code = code
        self.template = template
        self.shown = dict(shown or {})

    def __call__(self, **params: Any) -> Text:
        return Text(self.code, text_params(**params))

    def render(self, params: Mapping[str, Any]) -> str:
        values = _Values({name: self._show(name, value) for name, value in params.items()})
        template = str(self.template)
        try:
            return template % values
        except (TypeError, ValueError):  # a template whose placeholders no longer match: shown, not failed
            logger.warning("text %s could not be rendered with %s", self.code, sorted(params))
            return template

    def _show(self, name: str, value: Any) -> Any:
        show = self.shown.get(name)
        if show is not None:
            try:
                return show(value)
            except (TypeError, ValueError, ArithmeticError):
                return str(value)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return value  # for a template's %(n)d
        return show_value(value)

    def __repr__(self) -> str:
        return f"TextCode({self.code!r})"


class _Values(dict[str, Any]):
    """Parameters of a template; one the stored text lacks shows as nothing instead of failing."""

    def __missing__(self, key: str) -> Any:
        return ""


_CODES: dict[str, TextCode] = {}


def text_code(code: str, template: str | Promise, **shown: Shown) -> TextCode:
    """Define the text ``code``. Codes are stored: never reuse one for another meaning, never rename one."""
    if code in _CODES:
        raise ValueError(f"text code {code!r} is defined twice")
    defined = _CODES[code] = TextCode(code, template, shown)
    return defined


def text_codes() -> dict[str, TextCode]:
    return dict(_CODES)


# Words typed by a person (an agent's reason, a channel's message): shown as they were typed, in every language.
LITERAL = text_code("text", "%(text)s")


def literal(words: str, *, limit: int = 500) -> Text:
    words = words.strip()[:limit]
    return LITERAL(text=words) if words else Text("")


def as_text(note: Note | None, *, limit: int = 500) -> Text:
    """What a writer passed as a note, as a text to store: a ``Text`` as it is; words typed by a person as a
    literal. A lazy translation without its code is kept in the shop's language (never the writer's)."""
    if isinstance(note, Text):
        return note
    if note is None:
        return Text("")
    if isinstance(note, Promise):
        with translation.override(settings.LANGUAGE_CODE):
            return literal(str(note), limit=limit)
    return literal(str(note), limit=limit)


def text_render(code: str, params: Mapping[str, Any] | None) -> str:
    """The text ``code`` with ``params`` in the active language. A code no longer defined shows its ``text``
    parameter, if any: nothing stored is ever unreadable."""
    if not code:
        return ""
    params = params if isinstance(params, Mapping) else {}
    defined = _CODES.get(code)
    if defined is None:
        return str(params.get("text", ""))
    return defined.render(params)


def show_value(value: Any) -> str:
    """A parameter without a declared way of showing: a text is rendered, a list of texts joined, else as is."""
    if isinstance(value, Mapping) and "code" in value:
        return text_render(str(value["code"]), value.get("params"))
    if isinstance(value, list):
        return list_join(show_value(item) for item in value)
    return "" if value is None else str(value)


def list_join(parts: Any) -> str:
    # Translators: what separates the items of a list inside a sentence ("；" in Chinese).
    return pgettext("list separator", "; ").join(parts)


# --- ways of showing a parameter ---------------------------------------------------------------------------


def money(value: Any) -> str:
    """An amount stored as a string (``"12.50"``), shown as ¥12.50 with thousands separators."""
    try:
        return yuan(Decimal(str(value)))
    except InvalidOperation:
        return str(value)


def label(choices: type[models.Choices]) -> Shown:
    """A choice's stored value, shown by its label in the active language (the value itself if unknown)."""

    def show(value: Any) -> str:
        labels = dict(choices.choices)
        return str(labels.get(value, value))

    return show


def text_params(**params: Any) -> Params:
    """Parameters made storable as a text's are (amounts as strings, texts as ``{code, params}``)."""
    return {name: _storable(value) for name, value in params.items()}


def _storable(value: Any) -> Any:
    if isinstance(value, Text):
        return value.as_json()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, list | tuple):
        return [_storable(item) for item in value]
    if isinstance(value, Promise):
        raise TypeError("a text's parameter is a code or words typed by a person, not a translated string")
    if isinstance(value, models.Choices):
        return value.value
    return value


__all__ = [
    "LITERAL",
    "Note",
    "Text",
    "TextCode",
    "as_text",
    "label",
    "list_join",
    "literal",
    "money",
    "show_value",
    "text_code",
    "text_codes",
    "text_params",
    "text_render",
]
