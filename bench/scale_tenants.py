"""The tenants bench_scale.py measures, built in bulk through the real schema (triggers,
indexes): users with realistic names (accents, ß, Å, …), departments, a tenth without a usage
location, a few disabled, a share licensed; call records, audit and ledger entries, invoices;
and a large rate card."""

from __future__ import annotations

import datetime as dt
import importlib
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import peewee

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from commcredits import db as database  # noqa: E402
from commcredits.clock import utcnow  # noqa: E402
from commcredits.db import insert_rows  # noqa: E402
from commcredits.migrate import migrate  # noqa: E402
from commcredits.models import (  # noqa: E402
    AuditEntry,
    CallRecord,
    Invoice,
    LedgerEntry,
    LicenseAssignment,
    Rate,
    RateCard,
    Sku,
    Subscription,
    User,
)
from commcredits.schema.common import to_global_id  # noqa: E402
from commcredits.schema.pages import _cursor, _time_cursor  # noqa: E402
from commcredits.services import seats  # noqa: E402
from commcredits.services.access import SYSTEM, Role, create_api_key  # noqa: E402
from commcredits.services.tenants import create_tenant  # noqa: E402
from commcredits.services.user_search import normalize, search_text  # noqa: E402

LICENSES = {"MCOPSTNC": 0.4, "MCOEV": 0.2}  # SKU -> share of users holding it
DEPARTMENTS = ("Sales", "IT", "Finance", "R&D", "Marketing", "Support", "Legal", "HR")
LOCATIONS = ("DE",) * 6 + ("AT", "CH", "FR") + (None,)  # a tenth without one
GIVEN = (
    "Anna Jürgen Sören Åsa Björn Zoë François Ümit Léa Chloé Mathéo Kai Lena Max Paul Sophie "
    "Lukas Emma Noah Mia Jörg Małgorzata Øystein José Inés Çağla Renée Zoltán Dženana Hélène "
    "Niklas Greta Ole Ida Tomáš Marie Jonas Clara Elif Mehmet"
).split()
SURNAMES = (
    "Müller Schmidt Schneider Fischer Weber Meyer Wagner Becker Schulz Hoffmann Schäfer Koch "
    "Bauer Richter Klein Wolf Schröder Neumann Schwarz Zimmermann Braun Krüger Hofmann Hartmann "
    "Lange Schmitt Werner Krause Ångström Straße Dupont Nguyen Öztürk Kowalski Rossi Jansen "
    "Fernández Dvořák Løvik Çelik Yılmaz Lefèvre Gößling Bäcker"
).split()


@dataclass
class TenantData:
    id: int
    size: int
    key: str
    deep_cursor: str
    rare_term: str  # one user's UPN alias: matches that user (and any alias it prefixes)
    timings: dict[str, list[float]] = field(default_factory=dict)
    calls: int = 0  # call records (audit and ledger entries: half as many; invoices: a tenth)
    call_user: str = ""  # the global id of a user with calls
    call_upn: str = ""
    deep_call: str = ""  # the cursor after the newest half of its calls (newest first)
    reference: str = ""  # one ledger entry's reference
    card: str = ""  # the rate card measured for this side: the sample one, the large one
    rates: int = 0


USAGE_LINES_BACKFILL = importlib.import_module(
    "commcredits.migrations.0028_usage_month_lines"
).BACKFILL
LEDGER_DAYS_BACKFILL = importlib.import_module("commcredits.migrations.0030_ledger_days").backfill


def _person(rng: random.Random, i: int, domain: str) -> dict[str, Any]:
    given, surname = rng.choice(GIVEN), rng.choice(SURNAMES)
    alias = f"{normalize(given)}.{normalize(surname)}{i}".replace(" ", "")
    alias = "".join(ch for ch in alias if ch.isascii() and (ch.isalnum() or ch in "._-"))
    upn = f"{alias}@{domain}"
    mails = [f"{alias}@mail.{domain}"] if i % 7 == 0 else []
    row = {
        "user_principal_name": upn,
        "upn_key": upn.lower(),
        "display_name": f"{given} {surname}",
        "given_name": given,
        "surname": surname,
        "other_mails": mails,
        "department": rng.choice(DEPARTMENTS),
        "usage_location": rng.choice(LOCATIONS),
        "account_enabled": rng.random() > 0.05,
    }
    row["search_text"] = search_text(row)
    return row


def build_tenant(size: int, rng: random.Random, now: Any, name: str = "") -> TenantData:
    tenant = create_tenant(
        SYSTEM,
        name=name or f"Tenant {size}",
        country="DE",
        currency="EUR",
        agreement_type="MOSA",
        now=now,
    )
    for part_number in LICENSES:
        seats.purchase_seats(tenant, SYSTEM, part_number, size, now=now)
    domain = f"t{size}.example"
    chunk = 5000
    for start in range(0, size, chunk):
        rows = [
            {"tenant": tenant.id, "created_at": now, "updated_at": now, **_person(rng, i, domain)}
            for i in range(start, min(size, start + chunk))
        ]
        with database.db.atomic():
            insert_rows(User, rows)
    ids = [u.id for u in User.select(User.id).where(User.tenant == tenant.id).order_by(User.id)]
    for part_number, share in LICENSES.items():
        sku = Sku.get(Sku.part_number == part_number)
        holders = [uid for uid in ids if rng.random() < share]
        with database.db.atomic():
            for start in range(0, len(holders), chunk):
                insert_rows(
                    LicenseAssignment,
                    [
                        {"tenant": tenant.id, "user": uid, "sku": sku.id, "assigned_at": now}
                        for uid in holders[start : start + chunk]
                    ],
                )
            Subscription.update(consumed_units=len(holders)).where(
                (Subscription.tenant == tenant.id) & (Subscription.sku == sku.id)
            ).execute()
    deep_index = 50_000 if size > 50_000 else size // 2
    rare = User.get_by_id(ids[size * 7 // 10])
    return TenantData(
        id=tenant.id,
        size=size,
        key=create_api_key(SYSTEM, role=Role.GLOBAL_ADMIN, tenant=tenant, now=now)[1],
        deep_cursor=_cursor(ids[deep_index - 1]),
        rare_term=rare.user_principal_name.split("@")[0],
    )


def _bulk(model: type[peewee.Model], rows: Any, chunk: int = 5000) -> None:
    batch: list[dict[str, Any]] = []
    with database.db.atomic():
        for row in rows:
            batch.append(row)
            if len(batch) == chunk:
                insert_rows(model, batch)
                batch = []
        insert_rows(model, batch)


def _pick(rng: random.Random, weighted: tuple[tuple[str, float], ...]) -> str:
    x = rng.random()
    for value, share in weighted:
        x -= share
        if x < 0:
            return value
    return weighted[-1][0]


CALL_TYPES = (("DOMESTIC", 0.7), ("INTERNATIONAL", 0.2), ("CONFERENCE_DIAL_OUT", 0.09))
CALL_TYPES += (("TOLL_FREE_INBOUND", 0.01),)
ACTIONS = (("updateUser", 0.8), ("assignLicenses", 0.15), ("purchaseCredits", 0.049))
ACTIONS += (("revokeApiKey", 0.001),)
KINDS = (("CONSUMED", 0.9), ("FUNDED", 0.07), ("EXPIRED", 0.02), ("ADJUSTED", 0.01))


def build_activity(t: TenantData, calls: int, rng: random.Random, now: dt.datetime) -> None:
    """Calls over the last year (in time order, as they are recorded), audit and ledger entries
    (half as many) and invoices (a tenth), all with direct bulk INSERTs."""
    users = list(
        User.select(User.id, User.user_principal_name, User.display_name)
        .where(User.tenant == t.id)
        .tuples()
    )
    span = dt.timedelta(days=365)

    def at(i: int, n: int) -> dt.datetime:
        return now - span + span * (i + 1) / (n + 1)

    def call(i: int) -> dict[str, Any]:
        uid, upn, name = users[rng.randrange(len(users))]
        started = at(i, calls)
        blocked = rng.random() < 0.05
        return {
            "tenant": t.id,
            "call_id": f"call-{i}",
            "user": uid,
            "user_principal_name": upn,
            "display_name": name,
            "usage_location": "DE",
            "started_at": started,
            "month": started.strftime("%Y-%m"),
            "duration_seconds": 60 + i % 600,
            "destination": f"+4930{i:08d}",
            "destination_country": "DE",
            "call_type": _pick(rng, CALL_TYPES),
            "domestic": True,
            "status": "BLOCKED" if blocked else "RATED",
            "reason": "NO_CREDIT" if blocked else None,
            "minutes": 0 if blocked else 1 + i % 10,
            "charged_minutes": 0 if blocked else 1 + i % 10,
            "charge_minor": 0 if blocked else 2 * (1 + i % 10),
            "currency": "EUR",
            "rated_at": started,
        }

    _bulk(CallRecord, (call(i) for i in range(calls)))
    # Rating adds each call to its month's usage lines (usageSummary reads those); these calls
    # went in directly, so they are summed here as migration 0028 sums a database's calls.
    with database.db.atomic():
        database.db.execute_sql(USAGE_LINES_BACKFILL.format(where=f"WHERE tenant_id = {int(t.id)}"))
    entries = max(1, calls // 2)
    _bulk(
        AuditEntry,
        (
            {
                "tenant": t.id,
                "actor": "key cck_bench… (GLOBAL_ADMIN)",
                "action": (action := _pick(rng, ACTIONS)),
                "target_type": "Tenant"
                if action == "purchaseCredits"
                else ("ApiKey" if action == "revokeApiKey" else "User"),
                "target_id": str(i),
                "before": None,
                "after": {"i": i},
                "at": at(i, entries),
            }
            for i in range(entries)
        ),
    )
    _bulk(
        LedgerEntry,
        (
            {
                "tenant": t.id,
                "seq": i + 1,
                "kind": (kind := _pick(rng, KINDS)),
                "amount_minor": -20 if kind == "CONSUMED" else 1000,
                "balance_after_minor": 1_000_000,
                "currency": "EUR",
                "reference": f"ref-{i}",
                "usage_kind": "CALL" if kind == "CONSUMED" else "",
                "created_at": at(i, entries),
            }
            for i in range(entries)
        ),
    )
    # A flush keeps each day's last entry (the balance history reads those); these entries
    # went in directly, so their days are filled here as migration 0030 fills a database's.
    with database.db.atomic():
        LEDGER_DAYS_BACKFILL(database.db, f"WHERE tenant_id = {int(t.id)}")
    bills = max(1, calls // 10)
    _bulk(
        Invoice,
        (
            {
                "tenant": t.id,
                "number": i + 1,
                "issued_at": at(i, bills),
                "amount_minor": 10_000,
                "currency": "EUR",
                "reason": "PURCHASE",
                "status": "PAID",
                "payment_method": "INVOICE",
            }
            for i in range(bills)
        ),
    )
    # The list's order: latest started first, ties by id (resolvers/rating.py).
    call_keys = list(
        CallRecord.select(CallRecord.started_at, CallRecord.id)
        .where(CallRecord.tenant == t.id)
        .order_by(CallRecord.started_at.desc(), CallRecord.id.desc())
        .tuples()
    )
    one = CallRecord.get_by_id(call_keys[len(call_keys) * 3 // 10][1])
    t.calls = calls
    t.call_user = to_global_id("User", one.user_id)
    t.call_upn = one.user_principal_name.upper()
    t.deep_call = _time_cursor(*call_keys[len(call_keys) // 2])
    t.reference = f"ref-{entries * 3 // 10}"


def build_rate_card(rows: int, now: dt.datetime) -> int:
    """A card of `rows` rows, effective only far in the future (the sample card stays in
    force), by bulk INSERT."""
    card = RateCard.create(
        name="bench",
        effective_from=dt.datetime(2100, 1, 1, tzinfo=dt.UTC),
        imported_at=now,
        row_count=rows,
    )
    countries = ("DE", "FR", "AT", "US", "GB", "IT", "ES", "PL", "NL", "CH")
    _bulk(
        Rate,
        (
            {
                "card": card.id,
                "call_type": "DOMESTIC" if i % 4 else "INTERNATIONAL",
                "prefix": f"{10 + i % 89}{i:06d}",
                "country": countries[i % len(countries)],
                "price_micros": 19_000,
                "currency": "EUR",
            }
            for i in range(rows)
        ),
    )
    return card.id


def build(url: str, sizes: list[int], calls: list[int], rates: int) -> list[TenantData]:
    database.bind(url)
    migrate()
    now = utcnow()
    rng = random.Random(16)
    tenants = []
    for size, n in zip(sizes, calls, strict=True):
        started = time.perf_counter()
        tenants.append(build_tenant(size, rng, now, f"Tenant {size} / {n}"))
        print(f"  tenant of {size:,} users built in {time.perf_counter() - started:.1f} s")
        started = time.perf_counter()
        build_activity(tenants[-1], n, rng, now)
        print(
            f"  its {n:,} calls, {n // 2:,} audit and ledger entries, {n // 10:,} invoices"
            f" built in {time.perf_counter() - started:.1f} s"
        )
    started = time.perf_counter()
    sample = RateCard.select().where(RateCard.sample == True).first()  # noqa: E712
    large = build_rate_card(rates, now)
    tenants[0].card, tenants[0].rates = to_global_id("RateCard", sample.id), sample.row_count
    tenants[1].card, tenants[1].rates = to_global_id("RateCard", large), rates
    print(
        f"  rate card of {rates:,} rows built in {time.perf_counter() - started:.1f} s"
        f" (the sample card: {sample.row_count:,})"
    )
    database.db.close()
    return tenants
