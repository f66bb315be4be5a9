"""Calling policies with spending limits, their grants, and the Communication Credits usage per
user report (issue 17). Thin: the rules are in services/calling_policies.py (with
calling_policy_input.py and calling_policy_values.py), services/spend_limits.py and
services/credits_usage_report.py."""

import functools
from typing import Annotated

import strawberry
from strawberry.types import Info

from commcredits.resolvers.common import GrantGlobal, GrantUserIds, ctx, grant_targets, paginate
from commcredits.resolvers.permissions import permission
from commcredits.schema.calling_policies import (
    CallingPolicy,
    CallingPolicyPayload,
    CreateCallingPolicyInput,
    CreditsUsage,
    GrantCallingPolicyPayload,
    UpdateCallingPolicyInput,
    policy_input,
)
from commcredits.schema.common import CappedConnection, Connection, to_global_id
from commcredits.schema.input_limits import limited_arg
from commcredits.schema.pages import after_key, edges_of, page_info, page_size
from commcredits.services import calling_policies, calling_policy_grants, credits_usage_report
from commcredits.services.access import Permission
from commcredits.services.calling_policy_input import MAX_NAME
from commcredits.services.calling_policy_values import Policy

POLICY_NAME = "The calling policy's name (any case)."


@strawberry.type
class CallingPolicyQuery:
    @strawberry.field(
        description="The tenant's calling policies (Get-CsTeamsCallingPolicy), oldest first. "
        "Teams's built-in Global (no spend limit) is not listed: it is what a user with "
        "nothing granted has."
    )
    @permission(Permission.READ, tenant=True)
    def calling_policies(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[CallingPolicy]:
        tenant = ctx(info).tenant
        return paginate(
            calling_policies.policies_query(tenant),
            key=calling_policies.CallingPolicy.id,
            first=first,
            after=after,
            to_node=lambda row: CallingPolicy.of(Policy.of(row, tenant.currency)),
        )

    @strawberry.field(
        description="Communication Credits usage per user for a month (the Teams admin "
        "center's report): every user with a call record in the month, by user id."
    )
    @permission(Permission.READ, tenant=True)
    def communication_credits_usage(
        self,
        info: Info,
        month: Annotated[
            str | None, limited_arg(7, description="YYYY-MM (UTC); null: this month.")
        ] = None,
        first: int | None = None,
        after: str | None = None,
    ) -> CappedConnection[CreditsUsage]:
        c = ctx(info)
        size = page_size(first)
        which = credits_usage_report.report_month(month, now=c.now)
        rows = credits_usage_report.usage_page(
            c.tenant, which, after=after_key(after, "communicationCreditsUsage"), size=size
        )
        edges = edges_of(rows[:size], CreditsUsage.of, "communicationCreditsUsage")
        return CappedConnection(
            edges=edges,
            page_info=page_info(edges, len(rows) > size, after),
            _count=functools.cache(
                functools.partial(credits_usage_report.count_users, c.tenant, which)
            ),
        )


@strawberry.type
class CallingPolicyMutation:
    @strawberry.mutation(
        description="New-CsTeamsCallingPolicy: a named calling policy. whatIf checks "
        "everything and writes nothing."
    )
    @permission(Permission.MANAGE_CALLING_POLICIES, tenant=True)
    def create_calling_policy(
        self, info: Info, input: CreateCallingPolicyInput, what_if: bool = False
    ) -> CallingPolicyPayload:
        c = ctx(info)
        policy = calling_policies.create_calling_policy(
            c.tenant, c.principal, policy_input(input), now=c.now, what_if=what_if
        )
        return CallingPolicyPayload(policy=CallingPolicy.of(policy), what_if=what_if)

    @strawberry.mutation(
        description="Set-CsTeamsCallingPolicy: change the settings given; the others stay. "
        "whatIf checks everything and writes nothing."
    )
    @permission(Permission.MANAGE_CALLING_POLICIES, tenant=True)
    def update_calling_policy(
        self,
        info: Info,
        name: Annotated[str, limited_arg(MAX_NAME + 4, description=POLICY_NAME)],
        input: UpdateCallingPolicyInput,
        what_if: bool = False,
    ) -> CallingPolicyPayload:
        c = ctx(info)
        policy = calling_policies.update_calling_policy(
            c.tenant, c.principal, name, policy_input(input), now=c.now, what_if=what_if
        )
        return CallingPolicyPayload(policy=CallingPolicy.of(policy), what_if=what_if)

    @strawberry.mutation(
        description="Remove-CsTeamsCallingPolicy: refused (POLICY_IN_USE) while granted. "
        "whatIf checks as for real and removes nothing."
    )
    @permission(Permission.MANAGE_CALLING_POLICIES, tenant=True)
    def remove_calling_policy(
        self,
        info: Info,
        name: Annotated[str, limited_arg(MAX_NAME + 4, description=POLICY_NAME)],
        what_if: bool = False,
    ) -> CallingPolicyPayload:
        c = ctx(info)
        policy = calling_policies.remove_calling_policy(
            c.tenant, c.principal, name, now=c.now, what_if=what_if
        )
        return CallingPolicyPayload(policy=CallingPolicy.of(policy), what_if=what_if)

    @strawberry.mutation(
        description="Grant-CsTeamsCallingPolicy: grant a calling policy to users (userIds) or "
        "to every user without one (global: true); policyName null removes the grant. "
        "whatIf checks everything (role, name, every user) and writes nothing."
    )
    @permission(Permission.MANAGE_CALLING_POLICIES, tenant=True)
    def grant_calling_policy(
        self,
        info: Info,
        user_ids: GrantUserIds = None,
        global_: GrantGlobal = None,
        policy_name: Annotated[
            str | None,
            limited_arg(MAX_NAME + 4, description="One of callingPolicies' names; null: remove."),
        ] = None,
        what_if: bool = False,
    ) -> GrantCallingPolicyPayload:
        c = ctx(info)
        refs = grant_targets(user_ids, global_)
        result = calling_policy_grants.grant_calling_policy(
            c.tenant, c.principal, refs, policy_name, now=c.now, what_if=what_if
        )
        return GrantCallingPolicyPayload(
            policy=CallingPolicy.of(result.policy) if result.policy else None,
            global_=result.global_,
            user_ids=[to_global_id("User", u) for u in result.user_ids],
            what_if=result.what_if,
        )
