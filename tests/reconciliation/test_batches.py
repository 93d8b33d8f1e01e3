"""The statement read ahead in a thread: batches in order, the reader's errors where the batches are read, at
most a few batches early, and a thread that stops when the reading stops."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator

import pytest

from payments.channels import ChannelError
from reconciliation.batches import BatchesAhead


def read_ahead_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == "statement-read-ahead"]


def test_batches_come_in_order_the_last_one_short() -> None:
    with BatchesAhead(range(7), 3) as batches:
        assert list(batches) == [[0, 1, 2], [3, 4, 5], [6]]
    with BatchesAhead([], 3) as batches:
        assert list(batches) == []
    assert read_ahead_threads() == []


def test_an_error_of_the_statement_is_raised_where_the_batches_are_read_after_the_batches_before_it() -> None:
    def statement() -> Iterator[int]:
        yield from range(5)
        raise ChannelError("statement file is damaged", channel="wechat")

    got = []
    with BatchesAhead(statement(), 2) as batches, pytest.raises(ChannelError, match="damaged"):
        for batch in batches:
            got.append(batch)
    assert got == [[0, 1], [2, 3]]  # the line read before the error is not matched: its batch never completed
    assert read_ahead_threads() == []


def test_the_statement_is_read_at_most_two_batches_ahead() -> None:
    pulled = itertools.count()
    read = 0

    def endless() -> Iterator[int]:
        nonlocal read
        while True:
            read = next(pulled) + 1
            yield read

    with BatchesAhead(endless(), 10) as batches:
        first = next(iter(batches))
        deadline = time.monotonic() + 10
        while read < 40 and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.2)  # given time to run further, the thread stays put
        # The batch being matched, two waiting, and one more parsed and waiting for room: no more.
        assert (first, read) == (list(range(1, 11)), 40)
    assert read_ahead_threads() == []


def test_closing_early_stops_the_thread_even_on_an_endless_statement() -> None:
    with BatchesAhead(itertools.count(), 1000) as batches:
        for number, batch in enumerate(batches):
            assert batch[0] == number * 1000
            if number == 3:
                break
    assert read_ahead_threads() == []
