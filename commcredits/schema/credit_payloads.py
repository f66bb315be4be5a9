"""The payloads of the credits and billing mutations."""

import strawberry

from commcredits.schema.billing import BillingProfile
from commcredits.schema.common import UserError
from commcredits.schema.credits import (
    AutoRechargeSettings,
    CreditBalance,
    CreditLimit,
    CreditLot,
    CreditTransaction,
    ExpiredCredits,
)
from commcredits.schema.invoices import Invoice
from commcredits.schema.notifications import Webhook


@strawberry.type
class PurchaseCreditsPayload:
    lot: CreditLot | None = None
    invoice: Invoice | None = None
    balance: CreditBalance | None = None
    what_if: bool = False
    replayed: bool = strawberry.field(
        default=False,
        description="The idempotency key matched an earlier purchase: nothing was bought now "
        "(with whatIf: nothing would be), and invoice is the one it matched.",
    )
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class ConfigureAutoRechargePayload:
    auto_recharge: AutoRechargeSettings | None = None
    what_if: bool = strawberry.field(
        default=False, description="The settings as they would be saved; nothing was."
    )
    recharges: list[Invoice] = strawberry.field(
        default_factory=list, description="Invoices of a recharge that saving set off."
    )
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class AdjustCreditsPayload:
    transaction: CreditTransaction | None = None
    lot: CreditLot | None = None
    balance: CreditBalance | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class ExpireCreditsPayload:
    expired: list[ExpiredCredits] = strawberry.field(default_factory=list)
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class SetCreditLimitPayload:
    credit_limit: CreditLimit | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class CloseBillingPeriodPayload:
    period: str | None = None
    invoice: Invoice | None = None
    already_closed: bool = False
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class SetWebhookPayload:
    webhook: Webhook | None = None
    secret: str | None = strawberry.field(
        default=None, description="The signing secret: shown in this response only."
    )
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class UpdateBillingProfilePayload:
    billing_profile: BillingProfile | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)
