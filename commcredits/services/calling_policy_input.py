"""What creating or changing a Teams calling policy takes (issue 17), checked: the name, the
description, `CallingSpendUserLimit` and `EnableSpendLimits`.

Names are unique per tenant in any case, as PowerShell's `-Identity` (a `Tag:` prefix is
accepted and dropped); "Global" is reserved for Teams's built-in instance
(services/calling_policy_values.py). The limit is an amount in the tenant's currency, 0 or more
(0: nothing may be spent from credits); enabling spend limits needs one.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from commcredits.models import Tenant
from commcredits.services.calling_policy_values import BUILTIN_NAME
from commcredits.services.credits.rules import check_amount, check_currency
from commcredits.services.errors import DomainError

MAX_NAME = 64
MAX_DESCRIPTION = 1024


@dataclass(frozen=True)
class PolicyInput:
    """What create/update take; None leaves a field as it is (update) or unset (create)."""

    name: str | None = None
    description: str | None = None
    enable_spend_limits: bool | None = None
    calling_spend_user_limit: Decimal | None = None
    currency: str | None = None


def _bare(name: str) -> str:
    """The name as given, trimmed, without its `Tag:` prefix."""
    text = (name or "").strip()
    if text[:4].lower() == "tag:":
        text = text[4:].strip()
    return text


def name_key(name: str) -> str:
    return _bare(name).lower()


def check_name(name: str, field: str) -> str:
    text = _bare(name)
    if not text or len(text) > MAX_NAME:
        raise DomainError(
            "INVALID_POLICY_NAME", f"A policy name has 1 to {MAX_NAME} characters.", field
        )
    if text.lower() == BUILTIN_NAME.lower():
        raise DomainError(
            "INVALID_POLICY_NAME",
            "Global is Teams's built-in calling policy (no spend limit); for a tenant-wide "
            "limit create a policy and grant it with global: true.",
            field,
        )
    return text


def check_description(text: str | None, field: str) -> str:
    text = (text or "").strip()
    if len(text) > MAX_DESCRIPTION:
        raise DomainError(
            "VALUE_TOO_LONG", f"A description has at most {MAX_DESCRIPTION} characters.", field
        )
    return text


def check_limit(tenant: Tenant, amount: Decimal | None, currency: str | None) -> int | None:
    """CallingSpendUserLimit as minor units of the tenant's currency: ≥ 0, no more decimals
    than the currency has, and (if the input names a currency) the tenant's."""
    check_currency(tenant, currency, "input.currency")
    if amount is None:
        return None
    money = check_amount(tenant, amount, field="input.callingSpendUserLimit", allow_zero=True)
    return money.minor


def needs_limit(enabled: bool, limit: int | None) -> None:
    """A policy with spend limits enabled has a limit (0 or more)."""
    if enabled and limit is None:
        raise DomainError(
            "INVALID_AMOUNT",
            "enableSpendLimits needs a callingSpendUserLimit (0 or more).",
            "input.callingSpendUserLimit",
        )
