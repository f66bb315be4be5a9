"""A search with filters (issue 16 item 1): on PostgreSQL its window of users in id order is
walked from the first filter's (tenant_id, column, id) index whatever the planner's figures
(services/user_list.py, _window); on both databases a page is exactly the users a brute-force
filter finds, deep pages, short pages and the trigram index's fallback included."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from typing import Any

import pytest

from commcredits import db as database
from commcredits.models import LicenseAssignment, Sku, Tenant, User
from commcredits.services import user_list
from commcredits.services.user_list import UserFilter, users_page
from commcredits.services.user_search import normalize, search_text
from tests.helpers import other_tenant, plan_inside

USERS = 3000  # analysed at this size, the old window was planned on the primary key
DEPARTMENTS = ("Sales", "IT", "Finance", "Legal", "HR", "Support", "R&D", "Marketing")
LOCATIONS = ("DE",) * 6 + ("AT", "CH", "FR", None)
SURNAMES = ("Schmidt", "Müller", "Weber", "Schäfer", "Öztürk", "Ångström", "Meyer", "Koch")
GIVEN = ("Anna", "Jürgen", "Zoë", "Lukas", "Léa", "Max", "Søren")


def _person(tenant: Tenant, i: int, now: Any) -> dict[str, Any]:
    # Coprime strides, so every department meets every location and surname.
    given, surname = GIVEN[i % 7], SURNAMES[i * 3 % 8]
    upn = f"{normalize(given)}.{normalize(surname)}{i}@fabrikam.example".replace("ø", "o")
    row = {
        "tenant": tenant.id,
        "created_at": now,
        "updated_at": now,
        "user_principal_name": upn,
        "upn_key": upn.lower(),
        "display_name": f"{given} {surname}",
        "given_name": given,
        "surname": surname,
        "other_mails": [],
        "department": DEPARTMENTS[i * 5 % 8],
        "usage_location": LOCATIONS[i % 10],
        "account_enabled": i % 19 != 0,
    }
    row["search_text"] = search_text(row)
    return row


def _load(tenant: Tenant, n: int, now: Any) -> None:
    """n users in bulk (as an import writes them), every third holding MCOPSTNC."""
    rows = [_person(tenant, i, now) for i in range(n)]
    with database.db.atomic():
        for start in range(0, n, 1000):
            database.insert_rows(User, rows[start : start + 1000])
        sku = Sku.get(Sku.part_number == "MCOPSTNC")
        ids = User.select(User.id).where(User.tenant == tenant.id).order_by(User.id)
        held = [
            {"tenant": tenant.id, "user": uid, "sku": sku.id, "assigned_at": now}
            for k, (uid,) in enumerate(ids.tuples())
            if k % 3 == 0
        ]
        database.insert_rows(LicenseAssignment, held)


def _expected(tenant: Tenant, flt: UserFilter, after: int | None, size: int) -> list[int]:
    """The page, by testing every user of the tenant in Python."""
    term = normalize(flt.search or "")
    location = {"": None, "Deutschland": "DE"}.get(flt.usage_location or "", flt.usage_location)
    holders = {
        uid
        for (uid,) in LicenseAssignment.select(LicenseAssignment.user)
        .join(Sku)
        .where(Sku.part_number == (flt.has_license or ""))
        .tuples()
    }
    found = [
        u.id
        for u in User.select().where(User.tenant == tenant.id).order_by(User.id)
        if (after is None or u.id > after)
        and term in u.search_text
        and (flt.department is None or u.department == flt.department)
        and (flt.usage_location is None or u.usage_location == location)
        and (flt.account_enabled is None or u.account_enabled == flt.account_enabled)
        and (not flt.has_license or u.id in holders)
    ]
    return found[: size + 1]


@pytest.fixture
def statements(monkeypatch) -> Iterator[list[tuple[str, Any]]]:
    """Every statement the service sends, with its parameters, as it is sent."""
    seen: list[tuple[str, Any]] = []
    real = database.db.obj.execute_sql

    def spy(sql: str, params: Any = None, *args: Any, **kwargs: Any) -> Any:
        seen.append((sql, params))
        return real(sql, params, *args, **kwargs)

    monkeypatch.setattr(database.db.obj, "execute_sql", spy)
    yield seen


def _window_indexes(statements: list[tuple[str, Any]]) -> list[list[str]]:
    """The directory_user indexes of each page statement read through directory_user_in_id_order,
    planned as the function plans it (sorting off); "Sort" too if the plan sorts."""
    found = []
    for sql, params in list(statements):  # the EXPLAINs below are statements too
        if "directory_user_in_id_order" not in sql:
            continue
        db = database.db
        db.execute_sql("SELECT set_config('enable_sort', 'off', false)")
        try:
            plan = " ".join(r[0] for r in db.execute_sql("EXPLAIN " + params[0].replace("%", "%%")))
        finally:
            db.execute_sql("SELECT set_config('enable_sort', 'on', false)")
        names = re.findall(r"using (directory_user\w*)", plan)  # not the license probes
        found.append(names + (["Sort"] if re.search(r"\bSort\b", plan) else []))  # incremental too
    return found


# A search term (3+ letters: the trigram path), the filters, and the index its window walks.
PLANNED = [
    ({"department": "Sales", "usage_location": "DE"}, "directory_user_tenant_department_id"),
    ({"department": "Legal", "account_enabled": True}, "directory_user_tenant_department_id"),
    ({"usage_location": "DE"}, "directory_user_tenant_location_id"),
    ({"usage_location": ""}, "directory_user_tenant_location_id"),  # no location: IS NULL
    ({"usage_location": "DE", "has_license": "MCOPSTNC"}, "directory_user_tenant_location_id"),
    ({"account_enabled": False}, "directory_user_tenant_enabled_id"),
]


@pytest.mark.backends("postgresql")
@pytest.mark.parametrize("analysed", ["when empty", "once loaded"])
def test_a_filtered_search_window_walks_the_filter_s_index(tenant, clock, statements, analysed):
    small = other_tenant(clock())
    _load(small, 40, clock())
    if analysed == "when empty":  # a bulk load after the planner's last look (autovacuum off)
        database.db.execute_sql('ANALYZE "directory_user"')
    _load(tenant, USERS, clock())
    if analysed == "once loaded":  # the tenant is nearly the whole table: the primary key
        database.db.execute_sql('ANALYZE "directory_user"')  # looked as good as any index
    ids = [u.id for u in User.select(User.id).where(User.tenant == tenant.id).order_by(User.id)]
    for (filters, index), after in itertools.product(PLANNED, [None, ids[USERS // 4]]):
        flt = UserFilter(search="schmidt", **filters)
        statements.clear()
        page = users_page(tenant, flt, after=after, size=20)
        want = _expected(tenant, flt, after, 20)
        assert [u.id for u in page.users] == want[:20] and page.has_next == (len(want) > 20)
        planned = _window_indexes(statements)
        assert planned, statements  # the page was read through the function
        assert planned[0] == [index], (filters, after, planned)  # one index, no sort


@pytest.mark.backends("postgresql")
def test_a_full_page_is_one_statement_over_the_users(tenant, clock, statements):
    _load(tenant, USERS, clock())
    database.db.execute_sql('ANALYZE "directory_user"')
    ids = [u.id for u in User.select(User.id).where(User.tenant == tenant.id).order_by(User.id)]
    flt = UserFilter(search="schmidt", usage_location="DE", department="Sales")
    statements.clear()
    page = users_page(tenant, flt, after=ids[USERS // 4], size=20)
    assert len(page.users) == 20 and page.has_next
    over_users = [s for s, _ in statements if "directory_user" in s]
    assert len(over_users) == 1, over_users  # the window and its matches in one


FILTERS = [
    {},
    {"department": "Sales", "usage_location": "DE"},
    {"department": "Legal", "usage_location": "Deutschland", "account_enabled": True},
    {"usage_location": ""},
    {"usage_location": "ZZ"},
    {"account_enabled": False},
    {"department": "HR", "has_license": "MCOPSTNC"},
    {"department": "Nobody"},
]


@pytest.mark.parametrize("window", [user_list.MIN_SEARCH_WINDOW, 60])
def test_filtered_search_pages_are_the_brute_force_pages(tenant, clock, monkeypatch, window):
    """Every page through the list, for common, rare and absent terms; a window of 60 users
    sends the rarer terms to the trigram index (PostgreSQL) after a short window."""
    monkeypatch.setattr(user_list, "MIN_SEARCH_WINDOW", window)
    _load(tenant, 1200, clock())
    _load(other_tenant(clock()), 50, clock())  # never found
    for filters, term in itertools.product(FILTERS, ["schmidt", "ÖZTÜRK", "zoe.ang", "zzqx"]):
        flt = UserFilter(search=term, **filters)
        after, pages = None, 0
        while True:
            page = users_page(tenant, flt, after=after, size=25)
            want = _expected(tenant, flt, after, 25)
            got = [u.id for u in page.users]
            assert got == want[:25] and page.has_next == (len(want) > 25), (filters, term, after)
            pages += 1
            if not page.has_next:
                break
            after = got[-1]
        assert pages < 40  # the walk ended


@pytest.mark.backends("postgresql")
def test_a_search_count_never_reads_the_whole_table(tenant, clock, statements):
    """A common term's capped count (migration 0032): an analysed planner may think a
    sequential scan meets the cap sooner than the trigram bitmap; inside
    directory_user_search_count it has no sequential scan to choose."""
    _load(tenant, USERS, clock())
    database.db.execute_sql('ANALYZE "directory_user"')
    statements.clear()
    count = user_list.count_users(tenant, UserFilter(search="schmidt"))
    want = (
        User.select()
        .where((User.tenant == tenant.id) & User.search_text.contains("schmidt"))
        .count()
    )
    assert (count.total, count.capped) == (want, False) and want > USERS // 10
    counting = [params[0] for sql, params in statements if "directory_user_search_count" in sql]
    assert len(counting) == 1, statements
    plan = plan_inside("directory_user_search_count", counting[0])
    assert "Seq Scan" not in plan and "Bitmap" in plan, plan
