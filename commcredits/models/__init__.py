"""peewee tables. `ALL_MODELS` lists them in dependency order (tests truncate them)."""

from commcredits.models.access import ApiKey, AuditEntry
from commcredits.models.base import BaseModel, JSONField, UTCDateTimeField
from commcredits.models.catalog import Sku, Subscription
from commcredits.models.credits import (
    AutoRecharge,
    BillingProfile,
    CreditAccount,
    CreditLot,
    DebitSplit,
    IdempotencyRecord,
    Invoice,
    LedgerEntry,
    Notification,
    PostpaidPeriod,
    Webhook,
)
from commcredits.models.policies import DialOutGrant
from commcredits.models.rating import CallRecord, MinutePool, Rate, RateCard
from commcredits.models.security import AuthFailure, BrowserSession, SignInLink
from commcredits.models.tenants import Tenant
from commcredits.models.users import LicenseAssignment, TenantUserCount, User

ALL_MODELS: list[type[BaseModel]] = [
    Tenant,
    Sku,
    Subscription,
    User,
    TenantUserCount,
    LicenseAssignment,
    ApiKey,
    AuditEntry,
    CreditAccount,
    Invoice,
    CreditLot,
    LedgerEntry,
    DebitSplit,
    AutoRecharge,
    BillingProfile,
    PostpaidPeriod,
    IdempotencyRecord,
    Webhook,
    Notification,
    RateCard,
    Rate,
    MinutePool,
    CallRecord,
    DialOutGrant,
    AuthFailure,
    BrowserSession,
    SignInLink,
]

__all__ = [
    "ALL_MODELS",
    "ApiKey",
    "AuditEntry",
    "AuthFailure",
    "AutoRecharge",
    "BrowserSession",
    "CallRecord",
    "MinutePool",
    "Rate",
    "RateCard",
    "SignInLink",
    "BillingProfile",
    "CreditAccount",
    "CreditLot",
    "DebitSplit",
    "DialOutGrant",
    "IdempotencyRecord",
    "Invoice",
    "LedgerEntry",
    "Notification",
    "PostpaidPeriod",
    "Webhook",
    "BaseModel",
    "JSONField",
    "LicenseAssignment",
    "Sku",
    "Subscription",
    "Tenant",
    "TenantUserCount",
    "UTCDateTimeField",
    "User",
]
