"""Rate cards: the shipped sample, importRates / import-rates (all or nothing), longest prefix,
effective-from dates that never rewrite history."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import polars as pl
import pytest

from commcredits import cli
from commcredits.models import Rate, RateCard
from commcredits.services import call_fields, prices, rate_tables, rates
from commcredits.services.access import SYSTEM
from tests.conftest import Api
from tests.test_rating import call, office, record  # noqa: F401 - the fixture

IMPORT = """
mutation($input: ImportRatesInput!) {
  importRates(input: $input) {
    card { id name effectiveFrom rowCount sample }
    userErrors { field code message }
  }
}"""
RATES = """
query($f: RateFilter, $after: String) {
  rates(first: 100, filter: $f, after: $after) {
    totalCount
    nodes { callType prefix country pricePerMinute currency zone premium card { name sample } }
    pageInfo { hasNextPage endCursor }
  }
}"""


def row(call_type="DOMESTIC", prefix="49", country="DE", price="0.0100", currency="EUR", **kw):
    return {
        "callType": call_type,
        "prefix": prefix,
        "country": country,
        "pricePerMinute": price,
        "currency": currency,
        **kw,
    }


@pytest.fixture
def operator(client, keys) -> Api:
    return Api(client, keys["OPERATOR"])


def test_sample_card_is_labelled_and_covers_30_countries(db_url, clock):
    rates.ensure_sample_card(SYSTEM, now=clock())
    card = RateCard.get(RateCard.sample == True)  # noqa: E712
    assert "SAMPLE" in card.name
    assert rates.sample_card_path().read_text().startswith("# SAMPLE RATE CARD")
    eur = Rate.select().where((Rate.card == card.id) & (Rate.currency == "EUR"))
    assert {r.call_type for r in eur} == set(call_fields.CALL_TYPES)
    for kind in call_fields.CALL_TYPES:
        countries = {r.country for r in eur if r.call_type == kind}
        assert len(countries) >= 30, (kind, len(countries))
    zone_a = {r.country for r in eur if r.zone == "A"}
    assert {"US", "DE", "GB", "JP"} <= zone_a and "IN" not in zone_a
    assert rates.ensure_sample_card(SYSTEM, now=clock()) is None  # once


def test_import_rates_and_longest_prefix_wins(operator, api, db_url, clock):
    out = operator(
        IMPORT,
        {
            "input": {
                "name": "Carrier 2026",
                "rows": [
                    row(prefix="49", price="0.0100"),
                    row(prefix="4915", price="0.0500", description="mobile"),
                    row("INTERNATIONAL", "+33", "FR", "0.0200", zone="A"),
                ],
            }
        },
    )["importRates"]
    assert out["userErrors"] == []
    assert (out["card"]["rowCount"], out["card"]["sample"]) == (3, False)
    got = api(RATES, {"f": {"country": "DE"}})["rates"]
    assert [(n["prefix"], n["pricePerMinute"]) for n in got["nodes"]] == [
        ("49", "0.0100"),
        ("4915", "0.0500"),
    ]
    assert got["nodes"][0]["card"]["name"] == "Carrier 2026"
    book = rate_tables.RateBook("EUR")
    table = book.table_at(clock())
    assert table.find("DOMESTIC", "4915112345678").price_micros == 50_000
    assert table.find("DOMESTIC", "4930123456").price_micros == 10_000
    assert table.find("DOMESTIC", "33123456789") is None
    assert table.place("33123456789").country == "FR"


BAD_ROWS = [
    (row(price="-0.01"), "INVALID_PRICE", "row 2.pricePerMinute"),
    (row(currency="XYZ"), "INVALID_CURRENCY", "row 2.currency"),
    (row(prefix="+0049"), "INVALID_PREFIX", "row 2.prefix"),
    (row(country="XX"), "INVALID_COUNTRY", "row 2.country"),
    (row(call_type="LOCAL"), "INVALID_CALL_TYPE", "row 2.callType"),
    (row(price="5000"), "INVALID_PRICE", "row 2.pricePerMinute"),
    (row(prefix="4930"), "DUPLICATE_RATE", "row 2.prefix"),
    (row(prefix="49112", emergency=True), "INVALID_EMERGENCY", "row 2.emergency"),
]


@pytest.mark.parametrize(("bad", "code", "field"), BAD_ROWS)
def test_a_bad_row_refuses_the_whole_import(operator, db_url, bad, code, field):
    cards = RateCard.select().count()
    out = operator(
        IMPORT,
        {"input": {"name": "Broken", "rows": [row(prefix="4930"), bad, row(prefix="4940")]}},
    )["importRates"]
    assert out["card"] is None
    assert [(e["code"], e["field"]) for e in out["userErrors"]] == [(code, field)]
    assert out["userErrors"][0]["message"].startswith("row 2: ")
    assert RateCard.select().count() == cards


def test_an_emergency_row_through_the_api(operator, db_url):
    rows = [row(prefix="4930"), row(prefix="49112", price="0", emergency=True)]
    out = operator(IMPORT, {"input": {"name": "With 112", "rows": rows}})["importRates"]
    assert out["userErrors"] == [] and out["card"]["rowCount"] == 2
    card = out["card"]["id"]
    listed = operator(
        "query($f: RateFilter) { rates(first: 10, filter: $f) { nodes { prefix emergency } } }",
        {"f": {"cardId": card}},
    )["rates"]["nodes"]
    assert sorted((r["prefix"], r["emergency"]) for r in listed) == [
        ("49112", True),
        ("4930", False),
    ]


def test_only_operators_import_rates(api, db_url):
    out = api(IMPORT, {"input": {"name": "Mine", "rows": [row()]}})["importRates"]
    assert out["userErrors"][0]["code"] == "FORBIDDEN"


def test_a_new_card_does_not_rewrite_history(operator, api, office, clock):  # noqa: F811
    # payg (GB, no pool) rated under the sample card: GB fixed at 0.0180.
    first = record(api, call("h1", "payg", "+442071234567", seconds=60))
    assert first["results"][0]["call"]["pricePerMinute"] == "0.0180"
    effective = clock() - dt.timedelta(minutes=30)
    operator(
        IMPORT,
        {
            "input": {
                "name": "New GB prices",
                "effectiveFrom": effective.isoformat(),
                "rows": [row(prefix="44", country="GB", price="0.0300", zone="A")],
            }
        },
    )
    # A call that started before the new card still uses the sample card's price…
    late = record(api, call("h2", "payg", "+442071234567", at="2026-11-25T09:00:00Z"))
    assert late["results"][0]["call"]["pricePerMinute"] == "0.0180"
    # …one started after it uses the new price, and the first call keeps its own.
    new = record(api, call("h3", "payg", "+442071234567", at="2026-11-25T09:45:00Z"))
    assert new["results"][0]["call"]["pricePerMinute"] == "0.0300"
    again = record(api, call("h1", "payg", "+442071234567"))
    assert again["results"][0]["call"]["pricePerMinute"] == "0.0180"


@pytest.fixture
def cli_env(db_url, monkeypatch, tmp_path):
    monkeypatch.setenv("COMMCREDITS_DATABASE_URL", db_url)
    return tmp_path


def _frame(rows: list[dict]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "Call Type": [r["callType"] for r in rows],
            "Prefix": [r["prefix"] for r in rows],
            "Country": [r["country"] for r in rows],
            "Price per minute": [r["pricePerMinute"] for r in rows],
            "Currency": [r["currency"] for r in rows],
        }
    )


@pytest.mark.parametrize("suffix", [".csv", ".xlsx", ".parquet"])
def test_import_rates_cli_reads_csv_xlsx_parquet(cli_env, capsys, suffix):
    frame = _frame([row(prefix="49"), row(prefix="4915", price="0.05")])
    path = cli_env / f"carrier{suffix}"
    {".csv": frame.write_csv, ".xlsx": frame.write_excel, ".parquet": frame.write_parquet}[suffix](
        path
    )
    assert cli.main(["import-rates", str(path), "--effective-from", "2026-12-01"]) == 0
    assert "2 rows" in capsys.readouterr().out
    card = RateCard.select().where(RateCard.name == "carrier").get()
    assert card.effective_from == dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    prices = sorted(r.price_micros for r in Rate.select().where(Rate.card == card.id))
    assert prices == [10_000, 50_000]


def test_import_rates_cli_names_the_bad_row_and_imports_nothing(cli_env, capsys):
    path = cli_env / "bad.csv"
    _frame([row(prefix="49"), row(prefix="33", country="FR", currency="ZZZ")]).write_csv(path)
    cards = RateCard.select().count()
    assert cli.main(["import-rates", str(path)]) == 1
    err = capsys.readouterr().err
    assert "row 3: currency 'ZZZ'" in err and "nothing imported" in err
    assert RateCard.select().count() == cards


def test_price_arithmetic_is_decimal_and_rounds_half_up():
    assert prices.charge_for(19_000, 5, "EUR") == Decimal("0.10")  # 0.095
    assert prices.charge_for(24_000, 1, "EUR") == Decimal("0.02")
    assert prices.charge_for(2_500_000, 3, "JPY") == Decimal("8")  # 7.5
    assert prices.price_from_micros(19_000) == Decimal("0.0190")
    assert prices.price_from_micros(123_456) == Decimal("0.123456")
