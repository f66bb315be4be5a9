"""API keys, roles and the principal acting in a request (SPEC §7)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import secrets

import peewee

from commcredits import events
from commcredits.db import write
from commcredits.models import ApiKey, Tenant
from commcredits.services import audit
from commcredits.services.errors import DomainError, not_found
from commcredits.services.principal import (
    OPERATOR_IN_TENANT,
    ROLE_PERMISSIONS,
    SYSTEM,
    Permission,
    Principal,
    Role,
    require,
    require_tenant,
)
from commcredits.services.tenants import find_tenant

KEY_PREFIX = "cck_"
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)  # one write a minute per key, not one a request


# The principal, roles and the access check live in services/principal.py; re-exported here
# for the callers that import them with the rest of access.
__all__ = [
    "OPERATOR_IN_TENANT",
    "ROLE_PERMISSIONS",
    "SYSTEM",
    "Permission",
    "Principal",
    "Role",
    "require",
    "require_tenant",
]


def act_in_tenant(principal: Principal, ref: str) -> Principal:
    """An operator key's view of one tenant (SPEC §7: an operator sees all), named by id or
    name in the request's `X-Commcredits-Tenant` header. Tenant keys may not switch tenant."""
    if not principal.is_operator:
        raise DomainError("FORBIDDEN", "Only an operator key may choose a tenant.")
    return dataclasses.replace(principal, tenant=find_tenant(ref.strip()))


def hash_key(key: str) -> str:
    # Keys are 256-bit random tokens, so a fast hash is enough: nothing to brute-force.
    return hashlib.sha256(key.encode()).hexdigest()


def create_api_key(
    principal: Principal,
    *,
    role: Role,
    tenant: Tenant | None,
    name: str = "",
    now: dt.datetime,
) -> tuple[ApiKey, str]:
    """Create a key and return it with its secret, which is never shown again."""
    if role is Role.OPERATOR:
        if not principal.is_operator:
            raise DomainError("FORBIDDEN", "Only an operator key may create operator keys.", "role")
        if tenant is not None:
            raise DomainError("INVALID_ROLE", "An operator key belongs to no tenant.", "role")
    elif tenant is None:
        raise DomainError("TENANT_REQUIRED", "A tenant key needs a tenant.", "tenantId")
    if not principal.is_operator and (principal.tenant is None or principal.tenant.id != tenant.id):
        raise not_found("Tenant", "tenant", "tenantId")
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    tenant_id = tenant.id if tenant else None
    with write():
        key = ApiKey.create(
            tenant=tenant_id,
            role=role.value,
            name=name.strip()[:200],
            prefix=secret[:10],
            key_hash=hash_key(secret),
            created_at=now,
        )
        audit.record(
            principal,
            "createApiKey",
            key,
            tenant_id=tenant_id,
            before=None,
            after=describe_key(key),
            now=now,
        )
    return key, secret


def describe_key(key: ApiKey) -> dict:
    return {
        "prefix": key.prefix,
        "role": key.role,
        "name": key.name,
        "revokedAt": key.revoked_at.isoformat() if key.revoked_at else None,
    }


def revoke_api_key(principal: Principal, key_id: int, *, now: dt.datetime) -> ApiKey:
    key = _visible_key(principal, key_id)
    if key.revoked_at is not None:
        return key  # revoking twice is not an error: the key stays revoked
    before = describe_key(key)
    with write():
        key.revoked_at = now
        key.save()
        events.credential_revoked(f"key:{key.id}")  # its subscriptions close after commit
        audit.record(
            principal,
            "revokeApiKey",
            key,
            tenant_id=key.tenant_id,
            before=before,
            after=describe_key(key),
            now=now,
        )
    return key


def _visible_key(principal: Principal, key_id: int) -> ApiKey:
    query = ApiKey.select().where(ApiKey.id == key_id)
    if not principal.is_operator:
        query = query.where(ApiKey.tenant == principal.tenant.id)
    key = query.first()
    if key is None:
        raise not_found("ApiKey", key_id)
    return key


def list_api_keys(tenant: Tenant) -> list[ApiKey]:
    return list(ApiKey.select().where(ApiKey.tenant == tenant.id).order_by(ApiKey.id))


def api_keys_query(tenant: Tenant) -> peewee.ModelSelect:
    """The tenant's keys, for a page (the caller orders by id)."""
    return ApiKey.select().where(ApiKey.tenant == tenant.id)


class AuthenticationError(Exception):
    """A key was sent but is unknown or revoked (HTTP 401)."""


def authenticate(secret: str, *, now: dt.datetime) -> Principal:
    """The principal for a bearer key, in one query (key joined with its tenant)."""
    row = (
        ApiKey.select(ApiKey, Tenant)
        .join(Tenant, join_type=peewee.JOIN.LEFT_OUTER, on=(ApiKey.tenant == Tenant.id))
        .where(ApiKey.key_hash == hash_key(secret.strip()))
        .first()
    )
    if row is None or row.revoked_at is not None:
        raise AuthenticationError("invalid or revoked API key")
    if row.last_used_at is None or now - row.last_used_at >= LAST_USED_RESOLUTION:
        ApiKey.update(last_used_at=now).where(ApiKey.id == row.id).execute()
    tenant = row.tenant if row.tenant_id is not None else None
    return Principal(key_id=row.id, role=Role(row.role), tenant=tenant, key_prefix=row.prefix)
