"""`rates` pages: read in id order from the filter's index and stopping when full, on
PostgreSQL through rate_in_id_order (migration 0031) whatever the statistics; each node keeps
its card, read once a page (both databases)."""

from __future__ import annotations

import datetime as dt

from commcredits import db as database
from commcredits.db import insert_rows, is_sqlite
from commcredits.models import Rate, RateCard
from commcredits.services import rate_queries
from commcredits.services.access import SYSTEM
from commcredits.services.list_counts import inline_sql
from commcredits.services.rates import ensure_sample_card
from tests.conftest import Api
from tests.helpers import plan_inside

PAGE = """
query($f: RateFilter, $after: String) {
  rates(first: 20, filter: $f, after: $after) {
    nodes { id callType prefix card { id name } }
    pageInfo { hasNextPage endCursor }
  }
}"""


def _card(rows: int, now: dt.datetime) -> int:
    """A card of `rows` rows, a quarter of them INTERNATIONAL, by plain INSERTs (as an import
    leaves it: nothing analysed)."""
    card = RateCard.create(
        name="big", effective_from=now - dt.timedelta(days=1), imported_at=now,
        source="test", sample=False, row_count=rows,
    )  # fmt: skip
    kinds = ("DOMESTIC", "INTERNATIONAL", "TOLL_FREE_INBOUND", "DOMESTIC")
    insert_rows(
        Rate,
        [
            {
                "card": card.id, "call_type": kinds[i % 4], "prefix": f"{1000 + i}",
                "country": "DE", "price_micros": 10_000, "currency": "EUR", "zone": "",
            }
            for i in range(rows)
        ],
    )  # fmt: skip
    return card.id


def test_pages_in_id_order_each_node_with_its_card_read_once(api: Api, db_url, clock):
    ensure_sample_card(SYSTEM, now=clock())
    card_id = _card(300, clock())
    seen: list[str] = []
    after = None
    while True:
        with database.count_statements() as statements:
            page = api(PAGE, {"f": {"callType": "INTERNATIONAL"}, "after": after})["rates"]
        reads = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
        # The page and its card, read once (the in-force card's lookup reads the whole row).
        assert len([s for s in reads if "rate_card" in s and '"rate"' not in s]) == 1, reads
        assert {n["card"]["name"] for n in page["nodes"]} <= {"big"}
        seen += [n["prefix"] for n in page["nodes"]]
        assert all(n["callType"] == "INTERNATIONAL" for n in page["nodes"])
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    expected = [
        r.prefix
        for r in Rate.select()
        .where((Rate.card == card_id) & (Rate.call_type == "INTERNATIONAL"))
        .order_by(Rate.id)
    ]
    assert seen == expected and len(seen) == 75


def test_postgresql_reads_a_page_from_the_index_without_sorting(api: Api, db_url, clock):
    card_id = _card(3000, clock())
    with database.count_statements() as statements:
        api(PAGE, {"f": {"callType": "INTERNATIONAL"}})
    if is_sqlite():
        assert not [s for s in statements if "rate_in_id_order" in s]
        return
    assert [s for s in statements if "rate_in_id_order" in s], statements
    # What the function runs, with its own settings, before any ANALYZE: the (card_id,
    # call_type, id) index in order, no sort of the 750 matches.
    flt = rate_queries.RateFilter(call_type="INTERNATIONAL", card_id=card_id)
    query = rate_queries.rates_query(flt, now=clock()).order_by(Rate.id).limit(21)
    plan = plan_inside("rate_in_id_order", inline_sql(query))
    assert "Sort" not in plan, plan
    assert "rate_card_id_call_type_id" in plan, plan
