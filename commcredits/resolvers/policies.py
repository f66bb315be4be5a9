"""dialOutPolicies and grantDialOutPolicy (issue 17: outbound calling restrictions)."""

from typing import Annotated

import strawberry
from strawberry.types import Info

from commcredits.resolvers.common import ctx, user_ref
from commcredits.resolvers.permissions import permission
from commcredits.schema.common import to_global_id
from commcredits.schema.input_limits import USER_ID, USER_REF, limited_arg
from commcredits.schema.policies import DialOutPolicy, GrantDialOutPolicyPayload
from commcredits.services import dial_out
from commcredits.services.access import Permission
from commcredits.services.errors import DomainError


@strawberry.type
class PolicyQuery:
    @strawberry.field(
        description="The nine predefined dial-out policies (Get-CsOnlineDialOutPolicy); "
        "with nothing granted a user has DialoutCPCandPSTNInternational."
    )
    @permission(Permission.READ)
    def dial_out_policies(self, info: Info) -> list[DialOutPolicy]:
        return [DialOutPolicy.from_policy(p) for p in dial_out.CATALOG]


@strawberry.type
class PolicyMutation:
    @strawberry.mutation(
        description="Grant-CsDialoutPolicy: grant a dial-out policy to users (userIds) or to "
        "every user without one (global: true); policyName null removes the grant."
    )
    @permission(Permission.MANAGE_CALLING_POLICIES, tenant=True)
    def grant_dial_out_policy(
        self,
        info: Info,
        user_ids: Annotated[
            list[strawberry.ID] | None, limited_arg(USER_REF, description=USER_ID)
        ] = None,
        global_: Annotated[
            bool | None,
            strawberry.argument(name="global", description="The tenant's global grant."),
        ] = None,
        policy_name: Annotated[
            str | None,
            limited_arg(64, description="One of dialOutPolicies' names; null: remove."),
        ] = None,
    ) -> GrantDialOutPolicyPayload:
        c = ctx(info)
        if bool(global_) == (user_ids is not None):
            raise DomainError("INVALID_ARGUMENT", "Give either userIds or global: true.", "userIds")
        refs = None
        if user_ids is not None:
            refs = [user_ref(u, field=f"userIds.{i}") for i, u in enumerate(user_ids)]
        result = dial_out.grant_dial_out_policy(c.tenant, c.principal, refs, policy_name, now=c.now)
        return GrantDialOutPolicyPayload(
            policy=DialOutPolicy.from_policy(result.policy) if result.policy else None,
            global_=result.global_,
            user_ids=[to_global_id("User", u) for u in result.user_ids],
        )
