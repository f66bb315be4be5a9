"""Tenants (SPEC §2): created by operators; currency and agreement fixed at creation."""

from __future__ import annotations

import datetime as dt

import peewee

from commcredits.db import contains, write
from commcredits.ids import parse_pk
from commcredits.models import Tenant
from commcredits.money import CURRENCY_MINOR_UNITS
from commcredits.services import audit
from commcredits.services.countries import normalize_country
from commcredits.services.errors import DomainError, not_found
from commcredits.services.principal import Principal
from commcredits.services.user_search import normalize

AGREEMENT_TYPES = ("MCA", "MOSA", "EA")


def create_tenant(
    principal: Principal,
    *,
    name: str,
    country: str,
    currency: str,
    agreement_type: str,
    now: dt.datetime,
) -> Tenant:
    clean_name = (name or "").strip()
    if not clean_name or len(clean_name) > 200:
        raise DomainError("INVALID_NAME", "A tenant name has 1 to 200 characters.", "name")
    if clean_name.isdigit():
        # Tenants are named by id or name (find_tenant, a JWT's tenant claim, an operator's
        # X-Commcredits-Tenant): a name of digits would be read as another tenant's id.
        raise DomainError(
            "INVALID_NAME",
            f"A tenant name cannot be only digits ('{clean_name}' reads as a tenant id).",
            "name",
        )
    try:
        country_code = normalize_country(country)
    except ValueError:
        country_code = None
    if country_code is None:
        raise DomainError(
            "INVALID_COUNTRY", f"'{country}' is not an ISO 3166-1 alpha-2 code.", "country"
        )
    currency_code = (currency or "").strip().upper()
    if currency_code not in CURRENCY_MINOR_UNITS:
        raise DomainError(
            "INVALID_CURRENCY",
            f"'{currency}' is not a supported ISO 4217 currency "
            f"({', '.join(sorted(CURRENCY_MINOR_UNITS))}).",
            "currency",
        )
    agreement = (agreement_type or "").strip().upper()
    if agreement not in AGREEMENT_TYPES:
        raise DomainError(
            "INVALID_AGREEMENT_TYPE",
            f"Agreement type must be one of {', '.join(AGREEMENT_TYPES)}.",
            "agreementType",
        )
    with write():
        if Tenant.select().where(Tenant.name == clean_name).exists():
            raise DomainError("DUPLICATE_TENANT", f"A tenant named '{clean_name}' exists.", "name")
        try:
            tenant = Tenant.create(
                name=clean_name,
                search_name=normalize(clean_name),
                country=country_code,
                currency=currency_code,
                agreement_type=agreement,
                created_at=now,
            )
        except peewee.IntegrityError:  # created meanwhile by another request (PostgreSQL)
            raise DomainError(
                "DUPLICATE_TENANT", f"A tenant named '{clean_name}' exists.", "name"
            ) from None
        audit.record(
            principal,
            "createTenant",
            tenant,
            tenant_id=tenant.id,
            before=None,
            after=describe(tenant),
            now=now,
        )
    return tenant


def describe(tenant: Tenant) -> dict:
    return {
        "name": tenant.name,
        "country": tenant.country,
        "currency": tenant.currency,
        "agreementType": tenant.agreement_type,
    }


def find_tenant(ref: str | int) -> Tenant:
    """A tenant by id or exact name (operator tools)."""
    query = Tenant.select()
    pk = ref if isinstance(ref, int) else parse_pk(ref)
    if pk is not None:
        tenant = query.where(Tenant.id == pk).first()
    elif isinstance(ref, str) and ref.isdigit():  # "²", or past any id: no such tenant
        tenant = None
    else:
        tenant = query.where(Tenant.name == ref).first()
    if tenant is None:
        raise not_found("Tenant", ref)
    return tenant


def tenants_query(search: str | None = None) -> peewee.ModelSelect:
    """Every tenant (operator tools), or those whose name contains `search`, case and accents
    aside (a picker's search box). Tenants are few: a scan serves."""
    query = Tenant.select()
    term = normalize(search or "")
    if term:
        query = query.where(contains(Tenant.search_name, term))
    return query
