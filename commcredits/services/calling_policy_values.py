"""Teams calling policies (issue 17) as values: `Policy`, Teams's built-in `Global` instance,
and which policy applies to a user (`resolve`). No queries: the lookups that feed `resolve` are
services/calling_policies.py (`effective_for_users`) and services/spend_limits.py.

A user's effective policy: their own grant, else the best-ranked grant to a group they belong
to (services/group_policies.py), else the tenant's global grant
(`Grant-CsTeamsCallingPolicy -Global`), else Teams's built-in `Global` instance, which sets no
spend limit (granting: services/calling_policy_grants.py). The built-in instance is not a
row and cannot be changed: a tenant-wide limit is a policy of its own granted with
`global: true`, so "Global" is a reserved name.

A limit applies only while `enableSpendLimits` is true (`Policy.applied_limit_minor`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from commcredits.models import CallingPolicy
from commcredits.money import Money
from commcredits.services.group_policy_lookup import Effective, InheritedGrant, effective

BUILTIN_NAME = "Global"


@dataclass(frozen=True)
class Policy:
    id: int | None  # None: the built-in Global instance
    name: str
    description: str
    enable_spend_limits: bool
    limit_minor: int | None  # CallingSpendUserLimit, minor units of `currency`
    currency: str

    @property
    def applied_limit_minor(self) -> int | None:
        """The monthly cap in force (None: spending is not limited)."""
        return self.limit_minor if self.enable_spend_limits else None

    @property
    def limit(self) -> Money | None:
        if self.limit_minor is None:
            return None
        return Money.from_minor(self.limit_minor, self.currency)

    @classmethod
    def of(cls, row: CallingPolicy, currency: str) -> Policy:
        return cls(
            row.id,
            row.name,
            row.description,
            row.enable_spend_limits,
            row.spend_limit_minor,
            currency,
        )


@functools.cache
def builtin(currency: str) -> Policy:
    """Teams's built-in Global instance: what a user with nothing granted has."""
    return Policy(
        None, BUILTIN_NAME, "Teams's built-in policy: no spending limit.", False, None, currency
    )


EffectiveCallingPolicy = Effective  # a user's calling policy (group_policy_lookup.effective)


def resolve(
    own: Policy | None,
    global_grant: Policy | None,
    currency: str,
    inherited: InheritedGrant | None = None,
) -> Effective[Policy]:
    group = None
    if inherited is not None and inherited.calling is not None:
        group = (Policy(*inherited.calling, currency), inherited.group)
    return effective(own, group, global_grant, builtin(currency))
