"""Graph's refusals of a license request: its codes, messages and fields, word for word."""

from __future__ import annotations

from commcredits.models import Sku
from commcredits.services.catalog import TEAMS_PHONE_PLAN
from commcredits.services.errors import ErrorDetail, not_found


def _err(code: str, message: str, field_: str | None) -> ErrorDetail:
    return ErrorDetail(code=code, message=message, field=field_)


def user_not_found(ref: int | str) -> ErrorDetail:
    return not_found("User", ref, "userId").details[0]


def invalid_sku(field_: str) -> ErrorDetail:
    return _err(
        "InvalidSku",
        "Invalid value specified for property 'skuId' of resource 'AssignedLicense'.",
        field_,
    )


def invalid_service_plan(plan: str, sku: Sku, field_: str) -> ErrorDetail:
    return _err(
        "InvalidServicePlan",
        f"Service plan '{plan}' is not part of SKU {sku.part_number}.",
        field_,
    )


def added_and_removed(names: str) -> ErrorDetail:
    return _err(
        "InvalidLicenseOperation",
        f"License {names} cannot be in both addLicenses and removeLicenses.",
        "removeLicenses",
    )


def no_usage_location() -> ErrorDetail:
    return _err(
        "ProhibitedInUsageLocationViolation",
        "License assignment cannot be done for user with invalid usage location.",
        "userId",
    )


# The refusals below name, in `field`, the entry of the request they are about
# (`addLicenses.1.skuId`, `removeLicenses.0`), so that a form can show each beside its own
# checkbox without reading the (Graph's, English) message; "addLicenses" when no one entry is.


def not_sold_in(sku: Sku, location: str, field_: str) -> ErrorDetail:
    return _err(
        "ProhibitedInUsageLocationViolation",
        f"License {sku.part_number} cannot be assigned to a user with usage "
        f"location '{location}': it is not sold in that country or region.",
        field_,
    )


def mutually_exclusive(calling: list[str], field_: str) -> ErrorDetail:
    return _err(
        "MutuallyExclusiveViolation",
        f"Licenses {' and '.join(calling)} cannot be assigned together: they contain "
        f"mutually exclusive service plans.",
        field_,
    )


def missing_phone_plan(calling_sku: str, field_: str) -> ErrorDetail:
    return _err(
        "DependencyViolation",
        f"To assign a license that contains {calling_sku}, you must also assign one of "
        f"the following service plans: {TEAMS_PHONE_PLAN}.",
        field_,
    )


def no_seat(sku: Sku, field_: str) -> ErrorDetail:
    return _err(
        "CountViolation",
        f"Subscription for SKU {sku.part_number} does not have any available licenses.",
        field_,
    )


def inherited_removal(field_: str) -> ErrorDetail:
    """Removing a SKU the user holds only through a group (Graph's text, word for word)."""
    return _err(
        "InvalidLicenseOperation",
        "User license is inherited from a group membership and it cannot be removed directly "
        "from the user.",
        field_,
    )
