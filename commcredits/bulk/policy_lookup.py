"""What Grant-CsDialoutPolicy and Grant-CsTeamsCallingPolicy send and read before they grant:
the two kinds of policy (their mutation and user field), how a name and a user are written,
and the users named with their own grants, 25 per request (`policies` does the granting)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from commcredits.bulk.rows import UPN_NAMES
from commcredits.bulk.transport import Transport

# What -PolicyName $null arrives as: bash drops an unquoted `$null` (`-PolicyName:$null`
# becomes `-PolicyName:`), Invoke-Script passes it as "", and a cell or quoted word says it.
# Not `null`: a calling policy may be named so.
NULL_WORDS = ("", "$null")

IDENTITY_NAMES = ("Identity", *UPN_NAMES, "ObjectId", "Id", "SipAddress", "Sip address")

LOOKUP_CHUNK = 25  # aliased user(id:) look-ups per request, inside the schema's 30 aliases


def _lookup_document(name: str, fields: str) -> str:
    """A fixed document of LOOKUP_CHUNK aliased look-ups (unused slots repeat the first ref),
    so that every request is one checked module constant."""
    names = ", ".join(f"$r{n}: ID!" for n in range(LOOKUP_CHUNK))
    body = "\n  ".join(f"u{n}: user(id: $r{n}) {{ {fields} }}" for n in range(LOOKUP_CHUNK))
    return f"query {name}({names}) {{\n  {body}\n}}\n"


DIAL_OUT_USERS = _lookup_document(
    "BulkDialOutPolicyUsers", "id userPrincipalName dialOutPolicy { name source }"
)
CALLING_USERS = _lookup_document(
    "BulkCallingPolicyUsers", "id userPrincipalName callingPolicy { name source }"
)


GRANT_DIAL_OUT_POLICY = """
mutation BulkGrantDialOutPolicy(
  $userIds: [ID!], $global: Boolean, $name: String, $whatIf: Boolean!
) {
  grantDialOutPolicy(userIds: $userIds, global: $global, policyName: $name, whatIf: $whatIf) {
    policy { name } global userIds whatIf userErrors { field code message }
  }
}
"""
GRANT_CALLING_POLICY = """
mutation BulkGrantCallingPolicy(
  $userIds: [ID!], $global: Boolean, $name: String, $whatIf: Boolean!
) {
  grantCallingPolicy(userIds: $userIds, global: $global, policyName: $name, whatIf: $whatIf) {
    policy { name } global userIds whatIf userErrors { field code message }
  }
}
"""
# The tenant's -Global grants, so that granting the one in force again is Unchanged.
GLOBAL_POLICY_GRANTS = """
query BulkGlobalPolicyGrants {
  globalPolicyGrants { dialOut { name } calling { name } }
}
"""


@dataclass(frozen=True)
class PolicyKind:
    """What differs between the two commands: the mutation and the user's field."""

    noun: str  # in messages: "dial-out policy"
    mutation: str
    payload: str  # the mutation's field
    users: str  # the look-up document
    user_field: str  # the user's field with { name source }
    policy_columns: tuple[str, ...]
    global_field: str  # globalPolicyGrants' field of this kind


DIAL_OUT = PolicyKind(
    noun="dial-out policy",
    mutation=GRANT_DIAL_OUT_POLICY,
    payload="grantDialOutPolicy",
    users=DIAL_OUT_USERS,
    user_field="dialOutPolicy",
    policy_columns=("PolicyName", "Policy", "DialOutPolicy", "OnlineDialOutPolicy"),
    global_field="dialOut",
)
CALLING = PolicyKind(
    noun="calling policy",
    mutation=GRANT_CALLING_POLICY,
    payload="grantCallingPolicy",
    users=CALLING_USERS,
    user_field="callingPolicy",
    policy_columns=("PolicyName", "Policy", "CallingPolicy", "TeamsCallingPolicy"),
    global_field="calling",
)


def policy_value(value: str | None) -> str | None:
    """A -PolicyName or PolicyName cell: the name, or None for `$null` (remove the grant).
    PowerShell's `Tag:` prefix (`-PolicyName Tag:SalesLimit`) is dropped, as Teams drops it."""
    text = (value or "").strip()
    if text[:4].lower() == "tag:":
        text = text[4:].strip()
    return None if text.lower() in NULL_WORDS else text


def identity(value: str | None) -> str | None:
    """Teams takes a SIP address for -Identity too: `sip:anna@contoso.com` is that user."""
    if value and value[:4].lower() == "sip:":
        return value[4:]
    return value


@dataclass(frozen=True)
class Found:
    id: str
    upn: str
    granted: str | None  # the user's own grant (source USER), else None


def lookup_users(transport: Transport, kind: PolicyKind, refs: Sequence[str]) -> dict[str, Found]:
    """The users named (UPN or global id) and their own grants; a ref no user has is left out."""
    found: dict[str, Found] = {}
    distinct = list(dict.fromkeys(refs))
    for start in range(0, len(distinct), LOOKUP_CHUNK):
        chunk = distinct[start : start + LOOKUP_CHUNK]
        padded = chunk + [chunk[0]] * (LOOKUP_CHUNK - len(chunk))
        data = transport.execute(kind.users, {f"r{n}": r for n, r in enumerate(padded)})
        for n, ref in enumerate(chunk):
            user = data.get(f"u{n}")
            if user:
                policy = user.get(kind.user_field) or {}
                own = policy.get("name") if policy.get("source") == "USER" else None
                found[ref] = Found(user["id"], user["userPrincipalName"], own)
    return found


def global_grant(transport: Transport, kind: PolicyKind) -> str | None:
    """The name of the policy of this kind granted with -Global (None: none)."""
    grants = transport.execute(GLOBAL_POLICY_GRANTS)["globalPolicyGrants"]
    return (grants.get(kind.global_field) or {}).get("name")


def not_found(ref: str) -> tuple[str, str]:
    # The server's own wording for a user it does not have (services.errors.not_found).
    return (
        "NOT_FOUND",
        f"Resource '{ref}' does not exist or one of its queried reference-property objects "
        f"are not present.",
    )
