"""node(id) resolves every Node type of the schema, and only within the caller's tenant."""

from decimal import Decimal

from commcredits.models import CallRecord, CreditLot, Invoice, LedgerEntry, Notification, Rate
from commcredits.models import RateCard as RateCardRow
from commcredits.schema.common import to_global_id
from commcredits.services import credits, licenses, rating
from commcredits.services.access import SYSTEM, Role, create_api_key
from commcredits.services.licenses import AddLicense, LicenseRequest
from tests.conftest import Api
from tests.helpers import add_users, buy, other_tenant

NODE = "query($id: ID!) { node(id: $id) { __typename id } }"


def test_node_resolves_credit_and_call_objects_for_their_tenant_only(api, tenant, clock, client):
    now = clock()
    buy(tenant, now, MCOEV=1, MCOPSTN1=1, MCOPSTNC=1)
    add_users(tenant, now, [("ana", "DE")])
    plan = (AddLicense("MCOEV"), AddLicense("MCOPSTN1"), AddLicense("MCOPSTNC"))
    licenses.assign_licenses(
        tenant, SYSTEM, [LicenseRequest("ana@fabrikam.example", plan)], now=now
    )
    credits.configure_auto_recharge(
        tenant,
        SYSTEM,
        enabled=True,
        recharge_amount=Decimal("20"),
        trigger_balance=Decimal("5"),
        now=now,
    )
    call = rating.CallInput(
        call_id="n-1",
        user="ana@fabrikam.example",
        started_at=now,
        duration_seconds=120,
        destination="+33142345678",
        call_type="INTERNATIONAL",
    )
    rating.record_calls(tenant, SYSTEM, [call], now=now)
    ids = {
        "CreditLot": CreditLot.get().id,
        "Invoice": Invoice.get().id,
        "CreditTransaction": LedgerEntry.select().first().id,
        "Notification": Notification.select().first().id,
        "CallRecord": CallRecord.get().id,
        "Rate": Rate.select().first().id,
        "RateCard": RateCardRow.select().first().id,
    }
    intruder = Api(
        client,
        create_api_key(SYSTEM, role=Role.GLOBAL_ADMIN, tenant=other_tenant(now), now=now)[1],
    )
    for type_name, pk in ids.items():
        gid = str(to_global_id(type_name, pk))
        assert api(NODE, {"id": gid})["node"] == {"__typename": type_name, "id": gid}
        seen = intruder(NODE, {"id": gid})["node"]
        if type_name in ("Rate", "RateCard"):  # the rate cards are everyone's
            assert seen == {"__typename": type_name, "id": gid}
        else:
            assert seen is None, type_name
