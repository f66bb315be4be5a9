"""Migration 0013 on a database that already has rows: each list's filter indexes are built,
and the lists page and count through them; both databases."""

import datetime as dt

from commcredits import db as database
from commcredits.migrate import migrate
from commcredits.models import Tenant
from commcredits.services import credits, list_counts, usage_report
from tests.helpers import older_schema

NOW = dt.datetime(2026, 11, 25, 10, 0)
BUILT = {
    "audit_entry": {"audit_entry_tenant_id_action_id", "audit_entry_tenant_id_target_type_id"},
    "call_record": {
        "call_record_tenant_id_id",
        "call_record_tenant_id_user_id_id",
        "call_record_tenant_id_status_id",
        "call_record_tenant_id_call_type_id",
        "call_record_tenant_id_started_at_id",
        "call_record_tenant_upn_id",
    },
    "ledger_entry": {
        "ledger_entry_tenant_id_id",
        "ledger_entry_tenant_id_reference_id",
        "ledger_entry_tenant_id_created_at_id",
    },
    "invoice": {"invoice_tenant_id_id"},
    "rate": {
        "rate_card_id_id",
        "rate_card_id_call_type_id",
        "rate_card_id_country_id",
        "rate_card_id_prefix_id",
    },
}


def _insert(table: str, row: dict) -> None:
    p = database.db.obj.param
    columns = ", ".join(f'"{c}"' for c in row)
    marks = ", ".join(p for _ in row)
    database.db.execute_sql(
        f'INSERT INTO "{table}" ({columns}) VALUES ({marks})', tuple(row.values())
    )


def _old_rows() -> None:
    """One tenant's audit entries, calls, ledger entries, invoices and a card, as a 0012
    database holds them (plain SQL: the models are newer)."""
    _insert(
        "tenant",
        {
            "id": 1,
            "name": "T",
            "country": "DE",
            "currency": "EUR",
            "agreement_type": "MOSA",
            "created_at": NOW,
        },
    )
    for i in range(1, 4):
        action = "purchaseCredits" if i == 2 else "updateUser"
        _insert(
            "audit_entry",
            {
                "tenant_id": 1,
                "actor": "system",
                "action": action,
                "target_type": "User",
                "target_id": str(i),
                "at": NOW,
            },
        )
        _insert(
            "call_record",
            {
                "tenant_id": 1,
                "call_id": f"c{i}",
                "user_principal_name": f"U{i}@T.example",
                "display_name": "",
                "usage_location": "DE",
                "started_at": NOW,
                "month": "2026-11",
                "duration_seconds": 60,
                "destination": "+4930123",
                "destination_country": "DE",
                "call_type": "DOMESTIC",
                "domestic": True,
                "status": "BLOCKED" if i == 3 else "RATED",
                "minutes": 1,
                "pool_minutes": 0,
                "charged_minutes": 1,
                "pool_plan": "",
                "charge_minor": 2,
                "currency": "EUR",
                "rated_at": NOW,
            },
        )
        _insert(
            "ledger_entry",
            {
                "tenant_id": 1,
                "seq": i,
                "kind": "FUNDED",
                "amount_minor": 100,
                "postpaid_minor": 0,
                "balance_after_minor": 100 * i,
                "currency": "EUR",
                "reference": f"r{i}",
                "usage_kind": "",
                "reason": "",
                "created_at": NOW,
            },
        )
        _insert(
            "invoice",
            {
                "tenant_id": 1,
                "number": i,
                "issued_at": NOW,
                "amount_minor": 100,
                "currency": "EUR",
                "reason": "PURCHASE",
                "status": "PAID",
                "payment_method": "INVOICE",
                "payment_reference": "",
                "failure_reason": "",
            },
        )


def _indexes(table: str) -> set[str]:
    if database.is_sqlite():
        sql = f"SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = '{table}'"
    else:
        sql = f"SELECT indexname FROM pg_indexes WHERE tablename = '{table}'"
    return {row[0] for row in database.db.execute_sql(sql).fetchall()}


def test_an_older_database_with_rows_gets_the_list_indexes(blank_url):
    database.bind(blank_url)
    assert migrate("0012_large_tenants")[-1] == "0012_large_tenants"
    with database.db.connection_context():
        for table, names in BUILT.items():
            assert not names & _indexes(table)
        _old_rows()
    assert migrate("0013_large_tenant_lists") == ["0013_large_tenant_lists"]
    with older_schema():
        for table, names in BUILT.items():
            assert names <= _indexes(table), table
        tenant = Tenant.get_by_id(1)
        by_name = usage_report.call_records_query(
            tenant, usage_report.CallFilter(user="u2@t.example")
        )
        assert [c.call_id for c in by_name] == ["c2"]
        blocked = usage_report.call_records_query(tenant, usage_report.CallFilter(status="BLOCKED"))
        assert list_counts.capped_count(blocked) == list_counts.Count(1, False)
        assert credits.count_transactions(tenant) == list_counts.Count(3, False)
        assert credits.count_transactions(tenant, reference="r2") == list_counts.Count(1, False)
