"""A statement's lines in batches, read ahead in a thread while the previous batch is matched.

Downloading and parsing a statement and matching it against our refunds take turns on the processor: while the
matching waits for the database, the thread parses the next batch. At most ``depth`` batches wait in between,
so memory stays bounded whatever the statement's length. The thread touches no database: it only drives the
adapter's iterator. An error it meets (the channel unreachable, a damaged file) is raised where the batches are
read, as if there were no thread; closing stops the thread at the next batch and waits for it.
"""

from __future__ import annotations

import itertools
import queue
import threading
from collections.abc import Iterable, Iterator
from types import TracebackType
from typing import Generic, TypeVar

T = TypeVar("T")
_PUT_WAIT_SECONDS = 0.1


class _Done:
    """The end of the lines (after all batches, or after an error)."""


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


class BatchesAhead(Generic[T]):
    """Iterate ``items`` as lists of up to ``size``, read ahead by a thread, at most ``depth`` batches early."""

    def __init__(self, items: Iterable[T], size: int, *, depth: int = 2) -> None:
        self._queue: queue.Queue[list[T] | _Done | _Failed] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._read, args=(iter(items), size), name="statement-read-ahead", daemon=True
        )
        self._thread.start()

    def _read(self, iterator: Iterator[T], size: int) -> None:
        try:
            while not self._stop.is_set():
                batch = list(itertools.islice(iterator, size))
                if not batch:
                    break
                self._put(batch)
        except BaseException as error:  # noqa: BLE001 - handed to the reading thread, which raises it
            self._put(_Failed(error))
        self._put(_Done())

    def _put(self, item: list[T] | _Done | _Failed) -> None:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=_PUT_WAIT_SECONDS)
            except queue.Full:
                continue
            return

    def __iter__(self) -> Iterator[list[T]]:
        while True:
            item = self._queue.get()
            if isinstance(item, _Done):
                return
            if isinstance(item, _Failed):
                raise item.error
            yield item

    def close(self) -> None:
        """Stop reading ahead and wait for the thread (it finishes the batch it is parsing)."""
        self._stop.set()
        self._thread.join()

    def __enter__(self) -> BatchesAhead[T]:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
