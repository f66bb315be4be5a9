"""How a bulk run treats the interpreter: fewer garbage-collector passes while batches run."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

# Generation 0 is collected after this many new container objects (CPython's default: 700).
RUN_THRESHOLD = 50_000


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
    gc.set_threshold(RUN_THRESHOLD, old[1], old[2])
    try:
        yield
    finally:
        gc.set_threshold(*old)
        gc.unfreeze()
