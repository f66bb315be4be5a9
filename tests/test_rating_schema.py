"""recordCalls' own conversions (resolvers/ and schema/rating.py): its items built without
Strawberry's generic conversion, its results' call records worked out field by field when read.
Both must stay in step with the types they stand for."""

from __future__ import annotations

import datetime as dt

from commcredits.resolvers import rating as _resolvers  # noqa: F401 - registers the hook
from commcredits.schema.rating import CALL_FIELDS, CallRecord, CallRecordInput
from commcredits.services.calls import CallInput, RatedCall

NOW = dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.UTC)


def test_a_call_record_input_becomes_the_services_call_input_with_every_field():
    definition = CallRecordInput.__strawberry_definition__
    value = {
        "callId": "c-1",
        "userId": None,
        "userPrincipalName": "ann@contoso.example",
        "startedAt": NOW,
        "durationSeconds": 61,
        "destination": "+493012345678",
        "callType": "DOMESTIC",
    }
    # A field added to the type must be added to the hook (and to this value).
    assert {f.graphql_name or _camel(f.python_name) for f in definition.fields} == set(value)
    built = definition.from_input(CallRecordInput, value, None)
    assert built == CallInput("c-1", "ann@contoso.example", NOW, 61, "+493012345678", "DOMESTIC")
    # userId first, as a user's global id; a bad one is kept for the item's NOT_FOUND.
    by_id = definition.from_input(CallRecordInput, {**value, "userId": "VXNlcjo0Mg=="}, None)
    assert by_id.user == 42
    assert definition.from_input(CallRecordInput, {**value, "userId": "nobody"}, None).user == (
        "nobody"
    )
    assert (
        definition.from_input(CallRecordInput, {**value, "userPrincipalName": None}, None).user
        is None
    )


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.title() for p in rest)


def _rated(**changes) -> RatedCall:
    call = RatedCall(
        call_id="c-1",
        user_id=7,
        user_principal_name="ann@contoso.example",
        display_name="Ann",
        usage_location="DE",
        started_at=NOW,
        month="2026-11",
        duration_seconds=61,
        destination="+493012345678",
        destination_country="DE",
        call_type="DOMESTIC",
        domestic=True,
        status="RATED",
        reason=None,
        minutes=2,
        pool_minutes=1,
        charged_minutes=1,
        pool_plan="MCOPSTN1",
        rate_id=3,
        price_micros=18_000,
        charge_minor=2,
        currency="EUR",
        rated_at=NOW,
        id=42,
    )
    for name, value in changes.items():
        setattr(call, name, value)
    return call


def test_a_call_record_view_answers_every_field_as_the_built_one():
    fields = [f.python_name for f in CallRecord.__strawberry_definition__.fields]
    assert sorted(fields) == sorted(CALL_FIELDS)
    for call in (
        _rated(),
        _rated(
            status="BLOCKED",
            reason="NO_RATE",
            user_id=None,
            rate_id=None,
            price_micros=None,
            charge_minor=0,
            pool_minutes=0,
        ),
    ):
        built, view = CallRecord.from_call(call), CallRecord.view(call)
        assert isinstance(view, CallRecord)
        assert [getattr(view, n) for n in fields] == [getattr(built, n) for n in fields]
