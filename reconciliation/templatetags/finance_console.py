"""The admin index's finance block, for those who see reconciliation (finance)."""

from __future__ import annotations

from typing import Any

from django import template

from reconciliation.selectors import FinanceSummary, finance_summary

register = template.Library()


@register.simple_tag(takes_context=True)
def finance_summary_block(context: dict[str, Any]) -> FinanceSummary | None:
    request = context.get("request")
    if request is None or not request.user.has_perm("reconciliation.view_reconciliationrun"):
        return None
    return finance_summary()
