"""dialOutPolicies, globalPolicyGrants and grantDialOutPolicy (issue 17: outbound calling
restrictions, and the tenant's global grants of both kinds of policy)."""

from typing import Annotated

import strawberry
from strawberry.types import Info

from commcredits.resolvers.common import GrantGlobal, GrantUserIds, ctx, grant_targets
from commcredits.resolvers.permissions import permission
from commcredits.schema.calling_policies import CallingPolicy
from commcredits.schema.common import to_global_id
from commcredits.schema.input_limits import limited_arg
from commcredits.schema.policies import (
    DialOutPolicy,
    GlobalPolicyGrants,
    GrantDialOutPolicyPayload,
)
from commcredits.services import calling_policy_grants, dial_out
from commcredits.services.access import Permission


@strawberry.type
class PolicyQuery:
    @strawberry.field(
        description="The nine predefined dial-out policies (Get-CsOnlineDialOutPolicy); "
        "with nothing granted a user has DialoutCPCandPSTNInternational."
    )
    @permission(Permission.READ)
    def dial_out_policies(self, info: Info) -> list[DialOutPolicy]:
        return [DialOutPolicy.from_policy(p) for p in dial_out.CATALOG]

    @strawberry.field(
        description="The tenant's global grants (-Global) of a dial-out and a calling policy; "
        "each null when there is none."
    )
    @permission(Permission.READ, tenant=True)
    def global_policy_grants(self, info: Info) -> GlobalPolicyGrants:
        tenant = ctx(info).tenant
        dial = dial_out.global_grant(tenant)
        calling = calling_policy_grants.global_grant(tenant)
        return GlobalPolicyGrants(
            dial_out=DialOutPolicy.from_policy(dial) if dial else None,
            calling=CallingPolicy.of(calling) if calling else None,
        )


@strawberry.type
class PolicyMutation:
    @strawberry.mutation(
        description="Grant-CsDialoutPolicy: grant a dial-out policy to users (userIds) or to "
        "every user without one (global: true); policyName null removes the grant. whatIf "
        "checks everything (role, name, every user) and writes nothing."
    )
    @permission(Permission.MANAGE_CALLING_POLICIES, tenant=True)
    def grant_dial_out_policy(
        self,
        info: Info,
        user_ids: GrantUserIds = None,
        global_: GrantGlobal = None,
        policy_name: Annotated[
            str | None,
            limited_arg(64, description="One of dialOutPolicies' names; null: remove."),
        ] = None,
        what_if: bool = False,
    ) -> GrantDialOutPolicyPayload:
        c = ctx(info)
        refs = grant_targets(user_ids, global_)
        result = dial_out.grant_dial_out_policy(
            c.tenant, c.principal, refs, policy_name, now=c.now, what_if=what_if
        )
        return GrantDialOutPolicyPayload(
            policy=DialOutPolicy.from_policy(result.policy) if result.policy else None,
            global_=result.global_,
            user_ids=[to_global_id("User", u) for u in result.user_ids],
            what_if=result.what_if,
        )
