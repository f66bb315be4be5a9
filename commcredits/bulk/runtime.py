"""How a bulk run runs: its options (-WhatIf, -BatchSize, progress), its batches, and how it
treats the interpreter (fewer garbage-collector passes while batches run)."""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from commcredits import heap
from commcredits.bulk.errors import UsageError
from commcredits.services.errors import MAX_BATCH  # the API's own limit, not a rule copied

DEFAULT_BATCH = 1000


@dataclass
class Options:
    what_if: bool = False
    batch_size: int = DEFAULT_BATCH
    progress: Callable[[int], None] | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.batch_size <= MAX_BATCH:
            raise UsageError(f"-BatchSize must be between 1 and {MAX_BATCH:,}")

    def advance(self, n: int) -> None:
        if self.progress is not None and n:
            self.progress(n)


def slices(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    """Consecutive batches of at most `size` items, in order."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


@contextmanager
def few_collections() -> Iterator[None]:
    """Freeze what is alive now and collect generation 0 rarely, until the block ends.

    A batch of 1,000 rows allocates tens of thousands of small objects (requests, outcomes,
    GraphQL values), so CPython's collector passes every few hundred rows, and every tenth
    of its passes walks older objects too, the GraphQL schema among them: measured on a
    20,000-row Set-UserLicense, a third of the run. Reference counting frees a batch's
    objects anyway (the collector only finds cycles), so frozen survivors (the schema, the
    sheet) and rarer passes change no result, only the time.
    """
    old = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(heap.THRESHOLD, old[1], old[2])
    try:
        yield
    finally:
        gc.set_threshold(*old)
        gc.unfreeze()
