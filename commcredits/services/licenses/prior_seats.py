"""A dry run in batches (priorSeatChanges): the seats its earlier batches would take.

A real run's earlier batches are written, so each later one counts seats as stored; a dry run
writes nothing, so its client passes the earlier batches' `seatChanges` summed, and the batch
counts them as taken (+) or given back (-). License batches and group membership batches take
them alike; only seats carry over.
"""

from __future__ import annotations

from collections.abc import Sequence

from commcredits.services.catalog import Catalog
from commcredits.services.errors import DomainError
from commcredits.services.licenses import errors as graph


def prior_seat_units(
    catalog: Catalog, prior_seats: Sequence[tuple[str, int]], *, what_if: bool
) -> dict[int, int]:
    """SKU pk -> seats the earlier batches of this dry run would take (+) or give back (-),
    from (SKU part number or id, units) pairs; refused without what_if (a real batch counts
    the seats as stored) and for an unknown SKU."""
    if prior_seats and not what_if:
        raise DomainError(
            "WHAT_IF_REQUIRED",
            "priorSeatChanges describes the earlier batches of a dry run: it is taken with "
            "whatIf: true only (a real batch counts the seats as stored).",
            "priorSeatChanges",
        )
    found: dict[int, int] = {}
    for i, (ref, units) in enumerate(prior_seats):
        sku = catalog.find(ref)
        if sku is None:
            raise DomainError.many([graph.invalid_sku(f"priorSeatChanges.{i}.skuId")])
        found[sku.id] = found.get(sku.id, 0) + units
    return found
