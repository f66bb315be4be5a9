"""Calling policies and spending limits (issue 17): policies, grants, a user's policy and spend,
and the Communication Credits usage per user report."""

import enum
from decimal import Decimal

import strawberry

from commcredits.schema.common import UserError, to_global_id
from commcredits.schema.credits import Money
from commcredits.schema.group_policies import PolicyGroup
from commcredits.schema.input_limits import limited_field
from commcredits.services import calling_policies, credits_usage_report
from commcredits.services.calling_policy_input import MAX_DESCRIPTION, MAX_NAME
from commcredits.services.group_policy_lookup import DEFAULT, GLOBAL, GROUP, USER


@strawberry.enum(description="Where a user's effective calling policy comes from.")
class CallingPolicySource(enum.Enum):
    USER = USER  # the user's own grant
    GROUP = GROUP  # the best-ranked grant among the user's groups
    GLOBAL = GLOBAL  # the tenant's global grant
    DEFAULT = DEFAULT  # nothing granted: Teams's built-in Global instance (no spend limit)


@strawberry.type(
    description="A Teams calling policy (CsTeamsCallingPolicy, the spend-limit subset). A "
    "user's PSTN calls and meeting dial-outs may take at most callingSpendUserLimit from "
    "credits per calendar month (UTC) while enableSpendLimits is true."
)
class CallingPolicy:
    name: str = strawberry.field(description="Unique in the tenant, in any case (Identity).")
    description: str
    enable_spend_limits: bool = strawberry.field(description="EnableSpendLimits.")
    calling_spend_user_limit: Money | None = strawberry.field(
        description="CallingSpendUserLimit, in the tenant's currency; null: none set."
    )

    @classmethod
    def of(cls, policy: calling_policies.Policy) -> "CallingPolicy":
        limit = policy.limit
        return cls(
            name=policy.name,
            description=policy.description,
            enable_spend_limits=policy.enable_spend_limits,
            calling_spend_user_limit=Money.of(limit) if limit is not None else None,
        )


@strawberry.type(description="A user's calling policy: granted, effective, and from where.")
class UserCallingPolicy:
    name: str | None = strawberry.field(
        description="The policy granted (the user's own, a group's or the global one); null: none."
    )
    effective: CallingPolicy = strawberry.field(
        description="What applies: the grant, or Teams's built-in Global (no spend limit)."
    )
    source: CallingPolicySource
    group: PolicyGroup | None = strawberry.field(
        description="Source GROUP: the group whose assignment applies; null otherwise."
    )

    @classmethod
    def of(cls, found: calling_policies.EffectiveCallingPolicy) -> "UserCallingPolicy":
        return cls(
            name=found.granted.name if found.granted else None,
            effective=CallingPolicy.of(found.policy),
            source=CallingPolicySource(found.source),
            group=PolicyGroup.of(found.group),
        )


@strawberry.input(description="A new calling policy (New-CsTeamsCallingPolicy).")
class CreateCallingPolicyInput:
    name: str = limited_field(MAX_NAME, description="Unique in the tenant, in any case.")
    description: str | None = limited_field(MAX_DESCRIPTION, default=None)
    enable_spend_limits: bool | None = strawberry.field(
        default=False, description="EnableSpendLimits; true needs callingSpendUserLimit."
    )
    calling_spend_user_limit: Decimal | None = strawberry.field(
        default=None,
        description="CallingSpendUserLimit: ≥ 0, in the tenant's currency, at most its "
        "minor unit's decimals.",
    )
    currency: str | None = limited_field(
        3, default=None, description="If given, must be the tenant's currency."
    )


@strawberry.input(
    description="Changes to a calling policy (Set-CsTeamsCallingPolicy): null or absent "
    "leaves a setting as it is."
)
class UpdateCallingPolicyInput:
    name: str | None = limited_field(MAX_NAME, default=None, description="A new name.")
    description: str | None = limited_field(MAX_DESCRIPTION, default=None)
    enable_spend_limits: bool | None = None
    calling_spend_user_limit: Decimal | None = strawberry.field(
        default=None,
        description="CallingSpendUserLimit: ≥ 0, in the tenant's currency, at most its "
        "minor unit's decimals.",
    )
    currency: str | None = limited_field(
        3, default=None, description="If given, must be the tenant's currency."
    )


def policy_input(
    data: CreateCallingPolicyInput | UpdateCallingPolicyInput,
) -> calling_policies.PolicyInput:
    return calling_policies.PolicyInput(
        name=data.name,
        description=data.description,
        enable_spend_limits=data.enable_spend_limits,
        calling_spend_user_limit=data.calling_spend_user_limit,
        currency=data.currency,
    )


@strawberry.type
class CallingPolicyPayload:
    policy: CallingPolicy | None = strawberry.field(
        default=None, description="The policy (with whatIf: as it would be; nothing saved)."
    )
    what_if: bool = strawberry.field(
        default=False, description="True: checked only, nothing was written."
    )
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class GrantCallingPolicyPayload:
    policy: CallingPolicy | None = strawberry.field(
        default=None, description="The policy granted; null when the grant was removed."
    )
    global_: bool | None = strawberry.field(
        default=None, name="global", description="True: the tenant's global grant."
    )
    user_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="The users granted to (global ids); with whatIf, would be."
    )
    what_if: bool = strawberry.field(
        default=False, description="True: checked only, nothing was granted."
    )
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type(description="How many calls were BLOCKED for one reason.")
class ReasonCount:
    reason: str
    count: int


@strawberry.type(description="The user a usage row is about (their User's id and names).")
class CreditsUsageUser:
    id: strawberry.ID
    user_principal_name: str
    display_name: str
    usage_location: str | None


@strawberry.type(
    description="One user's Communication Credits usage in a month (the Teams admin center's "
    "report): spent from credits, the limit, calls and blocked calls."
)
class CreditsUsage:
    user: CreditsUsageUser
    spent: Money = strawberry.field(
        description="What the user's DOMESTIC, INTERNATIONAL and CONFERENCE_DIAL_OUT calls took "
        "from credits in the month (pool minutes are free; toll-free calls are the tenant's)."
    )
    limit: Money | None = strawberry.field(
        description="The spend limit the user's calling policy sets now; null: none."
    )
    calls: int = strawberry.field(description="The user's call records of the month.")
    blocked_calls: int
    blocked_by_reason: list[ReasonCount] = strawberry.field(
        description="Blocked calls by reason, in reason order."
    )

    @classmethod
    def of(cls, row: credits_usage_report.UsageRow) -> "CreditsUsage":
        s = row.spend
        return cls(
            user=CreditsUsageUser(
                id=to_global_id("User", row.id),
                user_principal_name=s.user_principal_name,
                display_name=s.display_name,
                usage_location=s.usage_location,
            ),
            spent=Money.of(row.spent),
            limit=Money.of(row.limit) if row.limit is not None else None,
            calls=row.calls,
            blocked_calls=row.blocked_calls,
            blocked_by_reason=[ReasonCount(reason=r, count=n) for r, n in row.blocked_by_reason],
        )
