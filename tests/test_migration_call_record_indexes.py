"""Migration 0026: call_record's three indexes that longer ones begin with are dropped, on a
database that holds calls, and the queries they served still answer (both databases)."""

from commcredits import db as database
from commcredits.migrate import migrate
from commcredits.models import Tenant
from commcredits.services import usage_report
from tests.test_migration_large_tenant_lists import _indexes, _insert
from tests.test_migrations_with_rows import NOW, _old_tenant

DROPPED = {"call_record_tenant_id", "call_record_tenant_id_month", "call_record_tenant_id_user_id"}
# What serves their queries now (and the user's own, for a user's deletion).
KEPT = {
    "call_record_tenant_id_call_id",
    "call_record_tenant_id_month_user_id",
    "call_record_tenant_id_user_id_started_at_id",
    "call_record_user_id",
}


def _call(tenant_id: int, n: int, month: str) -> None:
    _insert(
        "call_record",
        {
            "tenant_id": tenant_id, "call_id": f"c{n}", "user_principal_name": f"u{n}@t.example",
            "display_name": "", "usage_location": "DE", "started_at": NOW, "month": month,
            "duration_seconds": 60, "destination": "+4930123456", "destination_country": "DE",
            "call_type": "DOMESTIC", "domestic": True, "status": "RATED", "minutes": 1,
            "pool_minutes": 1, "charged_minutes": 0, "pool_plan": "", "charge_minor": 0,
            "currency": "EUR", "rated_at": NOW,
        },
    )  # fmt: skip


def test_the_prefix_indexes_go_and_the_calls_are_still_found(blank_url):
    database.bind(blank_url)
    migrate("0025_location_counts_by_index")
    with database.db.connection_context():
        assert _indexes("call_record") >= DROPPED | KEPT
        tenant_id = _old_tenant()
        for n, month in enumerate(("2026-11", "2026-11", "2026-12")):
            _call(tenant_id, n, month)
    assert migrate("0026_call_record_prefix_indexes") == ["0026_call_record_prefix_indexes"]
    migrate()  # and every later one
    with database.db.connection_context():
        names = _indexes("call_record")
        assert not DROPPED & names and names >= KEPT
        tenant = Tenant.get_by_id(tenant_id)
        calls = usage_report.call_records_query(tenant, usage_report.CallFilter())
        assert sorted(c.call_id for c in calls) == ["c0", "c1", "c2"]
