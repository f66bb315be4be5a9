"""peewee tables. `ALL_MODELS` lists them in dependency order (tests truncate them)."""

from commcredits.models.access import ApiKey, AuditEntry
from commcredits.models.base import BaseModel, JSONField, UTCDateTimeField
from commcredits.models.catalog import Sku, Subscription
from commcredits.models.tenants import Tenant
from commcredits.models.users import LicenseAssignment, User

ALL_MODELS: list[type[BaseModel]] = [
    Tenant,
    Sku,
    Subscription,
    User,
    LicenseAssignment,
    ApiKey,
    AuditEntry,
]

__all__ = [
    "ALL_MODELS",
    "ApiKey",
    "AuditEntry",
    "BaseModel",
    "JSONField",
    "LicenseAssignment",
    "Sku",
    "Subscription",
    "Tenant",
    "UTCDateTimeField",
    "User",
]
