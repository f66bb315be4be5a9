"""Outbound calling restrictions (issue 17): the dial-out catalog, grants, a user's policy."""

import enum

import strawberry

from commcredits.schema.calling_policies import CallingPolicy
from commcredits.schema.common import UserError
from commcredits.schema.group_policies import PolicyGroup
from commcredits.services import dial_out
from commcredits.services import group_policy_lookup as source


@strawberry.enum(description="A dial-out policy setting's value (Teams's spelling).")
class DialOutSetting(enum.Enum):
    INTERNATIONAL_AND_DOMESTIC = dial_out.INTERNATIONAL_AND_DOMESTIC
    DOMESTIC_ONLY = dial_out.DOMESTIC_ONLY
    DISABLED = dial_out.DISABLED


@strawberry.enum(description="Where a user's effective dial-out policy comes from.")
class DialOutPolicySource(enum.Enum):
    USER = source.USER  # the user's own grant
    GROUP = source.GROUP  # the best-ranked grant among the user's groups
    GLOBAL = source.GLOBAL  # the tenant's global grant
    DEFAULT = source.DEFAULT  # nothing granted: Teams's default


@strawberry.type(
    description="A predefined, read-only CsOnlineDialOutPolicy instance. Its two settings: "
    "conferencingDialOut (AllowPSTNConferencingDialOutType: CONFERENCE_DIAL_OUT calls) and "
    "pstnOutboundCalling (AllowPSTNOutboundCallingType: DOMESTIC and INTERNATIONAL calls)."
)
class DialOutPolicy:
    name: str
    conferencing_dial_out: DialOutSetting
    pstn_outbound_calling: DialOutSetting

    @classmethod
    def from_policy(cls, policy: dial_out.DialOutPolicy) -> "DialOutPolicy":
        return cls(
            name=policy.name,
            conferencing_dial_out=DialOutSetting(policy.conferencing),
            pstn_outbound_calling=DialOutSetting(policy.outbound),
        )


@strawberry.type(description="A user's dial-out policy: granted, effective, and from where.")
class UserDialOutPolicy:
    name: str | None = strawberry.field(
        description="The policy granted (the user's own, a group's or the global one); null: none."
    )
    effective: DialOutPolicy = strawberry.field(
        description="What applies: the grant, or DialoutCPCandPSTNInternational by default."
    )
    source: DialOutPolicySource
    group: PolicyGroup | None = strawberry.field(
        description="Source GROUP: the group whose assignment applies; null otherwise."
    )

    @classmethod
    def from_effective(cls, found: dial_out.EffectivePolicy) -> "UserDialOutPolicy":
        return cls(
            name=found.granted.name if found.granted else None,
            effective=DialOutPolicy.from_policy(found.policy),
            source=DialOutPolicySource(found.source),
            group=PolicyGroup.of(found.group),
        )


@strawberry.type
class GrantDialOutPolicyPayload:
    policy: DialOutPolicy | None = strawberry.field(
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


@strawberry.type(
    description="The tenant's global grants (Grant-CsDialoutPolicy -Global, "
    "Grant-CsTeamsCallingPolicy -Global): what every user without a grant of their own has."
)
class GlobalPolicyGrants:
    dial_out: DialOutPolicy | None = strawberry.field(
        description="The dial-out policy granted globally; null: none (users without a grant "
        "have DialoutCPCandPSTNInternational)."
    )
    calling: CallingPolicy | None = strawberry.field(
        description="The calling policy granted globally; null: none (users without a grant "
        "have Teams's built-in Global: no spend limit)."
    )
