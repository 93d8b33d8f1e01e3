"""The preset rejection reasons, kept by supervisors (``cs_supervisor``: add and change) and read by agents. A reason
is retired, never deleted: the refunds rejected with it keep it. Its code names it for good once it exists."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from mall.admin_base import ConsoleModelAdmin


class RejectionReasonAdmin(ConsoleModelAdmin):
    list_display = ["position", "code", "label_zh_hans", "label_en", "needs_note", "active"]
    list_display_links = ["code"]
    list_editable = ["position", "active"]  # Django offers the editable cells only to those who may change
    list_filter = ["active"]
    ordering = ["position", "id"]
    fields = ["code", "label_zh_hans", "label_en", "needs_note", "active", "position"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return ["code"] if obj is not None else []

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
