"""One shape per idea (README "Schema conventions"), checked over the whole schema.

A frontend generating types from `schema.graphql` should meet one shape for money, one for a
list that grows, one type for identifiers and one sentence for "an id or a name". Each rule is
a walk over the schema, so a new field that breaks one fails here, not in a review.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from graphql import (
    GraphQLArgument,
    GraphQLField,
    GraphQLInputField,
    GraphQLInputObjectType,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
)

from commcredits.schema.input_limits import PLAN_ID, SKU_ID, TENANT_ID, USER_ID
from commcredits.schema.root import schema

SCHEMA = schema._schema

# Lists whose length has a bound that does not grow with the tenant's data: the answer of one
# request (payload results, userErrors), a user's licenses (Graph's shape), the SKU catalog,
# one month's pools and usage lines, a debit's lot splits, ≤ 366 balance points.
BOUNDED_LISTS = {
    ("Query", "skus"): "the catalog of SKUs we sell",
    ("Query", "subscribedSkus"): "one per SKU (Graph's shape)",
    ("Query", "minutePools"): "per plan and country, one month",
    ("Query", "dialOutPolicies"): "the nine predefined Teams instances",
    ("CreditsUsage", "blockedByReason"): "one per BLOCKED reason",
    ("CreditBalance", "history"): "at most 366 days",
    ("CreditTransaction", "splits"): "the lots one debit took",
    ("Sku", "servicePlans"): "the SKU's plans",
    ("Sku", "availableCountries"): "ISO countries",
    ("User", "businessPhones"): "Graph keeps one",
    ("User", "otherMails"): "at most 20",
    ("User", "assignedLicenses"): "one per SKU",
    ("User", "licenseDetails"): "one per SKU",
    ("LicenseDetails", "servicePlans"): "the SKU's plans",
    ("AssignedLicense", "disabledPlans"): "the SKU's plans",
    ("LicenseChange", "disabledPlans"): "the SKU's plans",
    ("UsageSummary", "lines"): "call types × countries of one month",
    ("LicenseAssignmentResult", "changes"): "one per SKU of one item",
    ("LicenseResultRun", "changes"): "one per SKU of one run",
    ("User", "licenseAssignmentStates"): "one per SKU per source (direct, each group)",
    ("GroupMemberResult", "licenseAssignmentStates"): "User.licenseAssignmentStates, as left",
    ("Group", "assignedLicenses"): "one per SKU",
    ("GroupAssignedLicense", "disabledPlans"): "the SKU's plans",
    ("LicenseAssignmentState", "disabledPlans"): "the SKU's plans",
    ("GroupLicenseSummary", "errors"): "one per Entra error code",
    ("Query", "groupPolicyAssignments"): "at most 250 per policy type (MAX_ASSIGNMENTS)",
    ("Group", "policyAssignments"): "one per policy type",
}
# Names that end in "Id" but are no object's identifier.
NOT_IDENTIFIERS = {("BillingProfile", "vatId"), ("BillingProfileInput", "vatId")}
# Arguments and input fields that name a user, SKU, plan or tenant by id or natural key.
REFERENCE_SENTENCES = {
    "userId": USER_ID,
    "user": USER_ID,
    "skuId": SKU_ID,
    "removeLicenses": SKU_ID,
    "hasLicense": SKU_ID,
    "disabledPlans": PLAN_ID,
    "tenantId": TENANT_ID,
}
# Where a reference argument takes only a global id (no natural key), no sentence applies.
GLOBAL_ID_ONLY = {("Subscription", "callRated", "userId")}
# Operator mutations whose tenantId is a global id only (they act on one tenant by id).
GLOBAL_ID_ONLY |= {
    ("Mutation", name, "tenantId")
    for name in ("adjustCredits", "expireCredits", "setCreditLimit", "closeBillingPeriod")
}


def named(t) -> GraphQLNamedType:  # noqa: ANN001 - any wrapped GraphQL type
    while isinstance(t, GraphQLNonNull | GraphQLList):
        t = t.of_type
    return t


def is_list(t) -> bool:  # noqa: ANN001
    while isinstance(t, GraphQLNonNull):
        t = t.of_type
    return isinstance(t, GraphQLList)


def object_fields() -> Iterator[tuple[str, str, GraphQLField]]:
    for type_name, t in SCHEMA.type_map.items():
        if isinstance(t, GraphQLObjectType) and not type_name.startswith("__"):
            for name, field in t.fields.items():
                yield type_name, name, field


def references() -> Iterator[tuple[tuple[str, ...], GraphQLArgument | GraphQLInputField]]:
    """Every argument and input field, with where it is."""
    for type_name, name, field in object_fields():
        for arg_name, arg in field.args.items():
            yield (type_name, name, arg_name), arg
    for type_name, t in SCHEMA.type_map.items():
        if isinstance(t, GraphQLInputObjectType):
            for name, field in t.fields.items():
                yield (type_name, name), field


def test_every_amount_in_an_answer_is_money() -> None:
    bare = [
        f"{t}.{f}"
        for t, f, field in object_fields()
        if named(field.type).name == "Decimal" and t != "Money" and not field.deprecation_reason
    ]
    assert bare == []
    # The rule is not vacuous: money fields exist, and the old bare ones are deprecated.
    money = [f"{t}.{f}" for t, f, field in object_fields() if named(field.type).name == "Money"]
    assert {"CreditBalance.remaining", "Rate.perMinute", "CallRecord.cost"} <= set(money)


def test_lists_that_grow_are_connections() -> None:
    plain = [
        f"{t}.{f}"
        for t, f, field in object_fields()
        if is_list(field.type)
        and not t.endswith(("Connection", "Payload"))
        and named(field.type).name not in ("UserError",)
        and (t, f) not in BOUNDED_LISTS
        and not field.deprecation_reason
    ]
    # Payloads answer one request: their lists are as long as its input (≤ 1,000 items).
    assert plain == [], "a list that grows must be a connection (or listed as bounded here)"
    for t, f in BOUNDED_LISTS:
        assert is_list(SCHEMA.type_map[t].fields[f].type), f"{t}.{f} is no list any more"


def test_identifiers_are_ids() -> None:
    def is_identifier(name: str) -> bool:
        return name == "id" or bool(re.search(r"[a-z]Ids?$", name))

    wrong = [
        f"{t}.{f}: {field.type}"
        for t, f, field in object_fields()
        if is_identifier(f) and (t, f) not in NOT_IDENTIFIERS and named(field.type).name != "ID"
    ]
    wrong += [
        ".".join(where) + f": {ref.type}"
        for where, ref in references()
        if is_identifier(where[-1])
        and (where[0], where[-1]) not in NOT_IDENTIFIERS
        and named(ref.type).name != "ID"
    ]
    assert wrong == []


def test_id_or_name_arguments_say_so_in_one_sentence() -> None:
    checked, wrong = 0, []
    for where, ref in references():
        sentence = REFERENCE_SENTENCES.get(where[-1])
        if sentence is None or where in GLOBAL_ID_ONLY:
            continue
        checked += 1
        if named(ref.type).name != "ID" or sentence not in (ref.description or ""):
            wrong.append(f"{'.'.join(where)}: {ref.type} {ref.description!r}")
    assert wrong == []
    assert checked >= 12  # assignLicense, authorizeCall, the inputs, filters, createApiKey


def test_every_deprecation_names_a_field_that_exists() -> None:
    deprecated = [(t, f, field) for t, f, field in object_fields() if field.deprecation_reason]
    assert len(deprecated) >= 15  # this release's: Money fields and two list fields
    for t, f, field in deprecated:
        replacement = re.match(r"Use `(\w+)", field.deprecation_reason or "")
        assert replacement, f"{t}.{f}: say what to use instead"
        target = replacement.group(1)
        fields = SCHEMA.type_map[t].fields
        assert target in fields and not fields[target].deprecation_reason, f"{t}.{f} → {target}"
