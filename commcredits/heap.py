"""How the interpreter's cyclic garbage collector is set for serving and for bulk runs.

A GraphQL batch (1,000 rows or calls) allocates tens of thousands of small container objects
(inputs, outcomes, results). CPython collects generation 0 after every 700 new ones, and
every tenth of those passes walks the older generation too, which holds the GraphQL schema
and everything else built at start-up: measured with bench/bench_rating.py, 17–22 ms of a
175 ms batch (recordCalls 5,161 -> 5,685 calls/s with the settings below, in one run).
Reference counting frees a request's objects as soon as they are dropped; the collector only
finds cycles, so rarer passes change no result, only the time, and let at most THRESHOLD
objects of cyclic garbage wait for the next pass (a few MB).
"""

from __future__ import annotations

import gc

# Generation 0 is collected after this many new container objects (CPython's default: 700).
THRESHOLD = 50_000

_settled = False


def settle() -> None:
    """Once per process, after start-up (the server's lifespan, before its first request):
    collect, freeze what is alive then (the schema, the modules: never walked again), and
    collect generation 0 every THRESHOLD allocations from then on."""
    global _settled
    if _settled:
        return
    _settled = True
    gc.collect()  # garbage is not frozen with the living
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(THRESHOLD, older, oldest)
