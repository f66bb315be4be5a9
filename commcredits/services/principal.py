"""Who is acting: roles, permissions, the principal of a request, and the one access check.

Its own module, importing no service, so that audit, tenants and access can all name a
`Principal` without importing each other.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from commcredits.models import Tenant
from commcredits.services.errors import DomainError


class Role(enum.Enum):
    OPERATOR = "OPERATOR"
    GLOBAL_ADMIN = "GLOBAL_ADMIN"
    BILLING_ADMIN = "BILLING_ADMIN"
    LICENSE_ADMIN = "LICENSE_ADMIN"
    READER = "READER"


class Permission(enum.Enum):
    READ = "read"  # everything of the own tenant
    MANAGE_USERS = "manage users and licenses"
    MANAGE_BILLING = "manage seats, credits, recharge and billing"
    MANAGE_KEYS = "manage API keys"
    # Teams Administrator / Teams Communications Administrator: who may call where.
    MANAGE_CALLING_POLICIES = "manage calling policies"
    # Its own permission because the operator has it too, in a tenant, to stop fraud.
    BLOCK_PSTN_USERS = "block users from PSTN calls"
    OPERATE = "operate the service (tenants, catalog, adjustments)"


# The permission matrix the README shows.
ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.OPERATOR: frozenset(Permission),
    Role.GLOBAL_ADMIN: frozenset(
        {
            Permission.READ,
            Permission.MANAGE_USERS,
            Permission.MANAGE_BILLING,
            Permission.MANAGE_KEYS,
            Permission.MANAGE_CALLING_POLICIES,
            Permission.BLOCK_PSTN_USERS,
        }
    ),
    Role.BILLING_ADMIN: frozenset({Permission.READ, Permission.MANAGE_BILLING}),
    Role.LICENSE_ADMIN: frozenset({Permission.READ, Permission.MANAGE_USERS}),
    Role.READER: frozenset({Permission.READ}),
}


OPERATOR_IN_TENANT = frozenset(
    {Permission.READ, Permission.OPERATE, Permission.MANAGE_KEYS, Permission.BLOCK_PSTN_USERS}
)


@dataclass(frozen=True)
class Principal:
    """Who is acting: an API key, its role and its tenant (None for an operator key)."""

    key_id: int | None
    role: Role
    tenant: Tenant | None
    key_prefix: str = ""

    @property
    def label(self) -> str:
        if self.key_id is None and self.key_prefix:  # a JWT: "jwt:<sub> (READER)"
            return f"{self.key_prefix} ({self.role.value})"
        return f"key {self.key_prefix}… ({self.role.value})" if self.key_prefix else self.role.value

    @property
    def is_operator(self) -> bool:
        return self.role is Role.OPERATOR

    def can(self, permission: Permission) -> bool:
        if self.is_operator and self.tenant is not None:
            # An operator looking into a tenant reads it, manages its keys and may block a
            # user from PSTN calls (fraud); it does not change the tenant's users, licenses
            # or money in the tenant's name.
            return permission in OPERATOR_IN_TENANT
        return permission in ROLE_PERMISSIONS[self.role]


TENANT_HEADER = "X-Commcredits-Tenant"  # how an operator key names the tenant it looks into

SYSTEM = Principal(key_id=None, role=Role.OPERATOR, tenant=None, key_prefix="")


def require(principal: Principal | None, permission: Permission) -> Principal:
    """The one access check: raises UNAUTHENTICATED / FORBIDDEN / NO_TENANT as domain errors."""
    if principal is None:
        raise DomainError(
            "UNAUTHENTICATED", "An API key is required: send 'Authorization: Bearer <key>'."
        )
    if not principal.can(permission):
        raise DomainError("FORBIDDEN", f"Role {principal.role.value} may not {permission.value}.")
    return principal


def require_tenant(principal: Principal | None, permission: Permission) -> Tenant:
    """As `require`, and the principal must act for a tenant (operator keys name none)."""
    principal = require(principal, permission)
    if principal.tenant is None:
        if principal.is_operator and permission in OPERATOR_IN_TENANT:
            raise DomainError(
                "TENANT_REQUIRED",
                f"This field acts on one tenant: name it in the {TENANT_HEADER} header (its "
                "name or id). Without it an operator key reads what belongs to no tenant: "
                "`tenants`, `skus`, `rates`, `rateCards`, `viewer`.",
            )
        if principal.is_operator:
            raise DomainError(
                "TENANT_REQUIRED",
                f"Only a key of the tenant may {permission.value}; an operator key (with the "
                f"{TENANT_HEADER} header) reads a tenant and manages its keys.",
            )
        raise DomainError(
            "TENANT_REQUIRED", "This operation acts on one tenant: use a key of that tenant."
        )
    return principal.tenant
