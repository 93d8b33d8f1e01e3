"""Serializers that build their fields once per class: the copies each instance gets, and the one nesting refused."""

from __future__ import annotations

import pytest
from rest_framework import serializers

from refunds.serializers import FieldsBuiltOnce, RefundApplySerializer


def test_each_instance_gets_its_own_bound_copies_of_fields_built_once() -> None:
    first, second = RefundApplySerializer(), RefundApplySerializer()
    assert first.fields["order_no"] is not second.fields["order_no"]
    assert first.fields["order_no"].parent is first and second.fields["order_no"].parent is second
    # A nested list shares its child, built once.
    assert first.fields["items"].child is second.fields["items"].child


def test_a_nested_serializer_that_is_not_a_list_of_fields_built_once_is_refused() -> None:
    class Plain(serializers.Serializer):  # type: ignore[type-arg]
        name = serializers.CharField()

    class Outer(FieldsBuiltOnce, serializers.Serializer):  # type: ignore[type-arg]
        inner = Plain()

    with pytest.raises(TypeError, match=r"^Outer\.inner: only lists of FieldsBuiltOnce serializers nest$"):
        _ = Outer().fields
