"""What the input-fuzzing tests share: hypothesis settings, the odd values every parser must survive, and a way
to run each example from the same database state."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from django.core.cache import cache
from django.db import transaction
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st


def fuzz(max_examples: int) -> Any:
    """Settings for a fuzzing test: no deadline (the database sets the pace), fixtures shared by the examples, and
    the same examples on every run, so that a failure in CI is a failure on a laptop."""
    return settings(
        max_examples=max_examples,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        derandomize=True,
    )


# Numbers as text in every shape a parser meets: signs, exponents, non-finite, too long, padded, non-ASCII digits.
NUMBERISH = st.sampled_from(
    ["1", "0", "-1", "0.001", "0.0001", "1e3", "1E-3", "NaN", "Infinity", "-Infinity", "1" * 40, "", " 1 ", "٣", "0x10"]
)
# JSON scalars: huge and negative numbers, non-finite floats (Python's json writes NaN and Infinity), any text.
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=40)
    | NUMBERISH
)
JSON_VALUES = st.recursive(
    SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
)


@contextlib.contextmanager
def rolled_back() -> Iterator[None]:
    """Run one example from the same state as the last: what it changed is rolled back after it, and the cache
    (throttle counters, locks, idempotency keys) starts empty so that every request reaches its view."""
    cache.clear()
    with transaction.atomic():
        yield
        transaction.set_rollback(True)
