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


def nested_arrays(levels: int, inner: str = "") -> str:
    return "[" * levels + inner + "]" * levels


def nested_objects(levels: int) -> str:
    return '{"a":' * levels + "1" + "}" * levels


def _nested(levels: int, shape: str) -> str:
    if shape == "arrays":
        return nested_arrays(levels)
    if shape == "objects":
        return nested_objects(levels)
    if shape == "mixed":
        openers = ["[" if level % 2 else '{"k":' for level in range(levels)]
        return "".join(openers) + "0" + "".join("]" if level % 2 else "}" for level in reversed(range(levels)))
    return "[" * levels  # never closed


# JSON nested around the parsers' limit (mall.parsers.MAX_JSON_DEPTH, 32) and far beyond Python's recursion limit,
# as (text, levels): arrays, objects, both alternating, or brackets never closed.
DEEP_JSON = st.builds(
    lambda levels, shape: (_nested(levels, shape), levels),
    levels=st.integers(min_value=30, max_value=34) | st.sampled_from([100, 999, 1_000, 5_000, 100_000]),
    shape=st.sampled_from(["arrays", "objects", "mixed", "open"]),
)

# Body sizes relative to a limit (DATA_UPLOAD_MAX_MEMORY_SIZE, a notification's cap): under, at, just over, far over.
SIZE_OFFSETS = st.sampled_from([-1, 0, 1, 2, 4096, 2**20])


@contextlib.contextmanager
def rolled_back() -> Iterator[None]:
    """Run one example from the same state as the last: what it changed is rolled back after it, and the cache
    (throttle counters, locks, idempotency keys) starts empty so that every request reaches its view."""
    cache.clear()
    with transaction.atomic():
        yield
        transaction.set_rollback(True)
