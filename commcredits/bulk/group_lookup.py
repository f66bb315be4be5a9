"""What Add-GroupMember and its kin read before they change anything, and what
Get-MgGroupMemberWithLicenseError reads: the group (by id or by its whole name), the users
named (25 per request), and the members whose group licenses are in error (`groups` does the
changing; whether a user is a member is the server's answer to the change itself)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from commcredits.bulk.errors import UsageError
from commcredits.bulk.transport import Transport

PAGE = 100  # the server's largest page (schema/pages.py MAX_PAGE)
LOOKUP_CHUNK = 25  # aliased user(id:) look-ups per request, inside the schema's 30 aliases

_GROUP_FIELDS = "id displayName"
GROUP_BY_ID = f"""
query BulkGroup($id: ID!) {{
  group(id: $id) {{ {_GROUP_FIELDS} }}
}}
"""
GROUPS_BY_NAME = f"""
query BulkGroupsByName($first: Int!, $after: String, $search: String) {{
  groups(first: $first, after: $after, filter: {{search: $search}}) {{
    pageInfo {{ hasNextPage endCursor }}
    nodes {{ {_GROUP_FIELDS} }}
  }}
}}
"""
# A fixed document of LOOKUP_CHUNK aliased look-ups (unused slots repeat the first ref), so
# that every request is one checked module constant.
GROUP_USERS = (
    "query BulkGroupUsers("
    + ", ".join(f"$r{n}: ID!" for n in range(LOOKUP_CHUNK))
    + ") {\n"
    + "\n".join(f"  u{n}: user(id: $r{n}) {{ id userPrincipalName }}" for n in range(LOOKUP_CHUNK))
    + "\n}\n"
)
LICENSE_ERRORS = """
query BulkGroupLicenseErrors($groupId: ID!, $first: Int!, $after: String) {
  usersWithLicenseErrors(groupId: $groupId, first: $first, after: $after) {
    pageInfo { hasNextPage endCursor }
    nodes {
      id userPrincipalName displayName usageLocation
      licenseAssignmentStates { skuPartNumber assignedByGroup state error }
    }
  }
}
"""


@dataclass(frozen=True)
class GroupRef:
    id: str
    name: str


def _group(node: dict[str, Any]) -> GroupRef:
    return GroupRef(node["id"], node["displayName"])


def find_group(transport: Transport, *, group_id: str | None, name: str | None) -> GroupRef:
    """The group by its id, or by its display name (whole, any case); neither found, or a
    name two groups share, stops the run before anything is sent."""
    if bool(group_id) == bool(name):
        raise UsageError("give -GroupName NAME or -GroupId ID")
    if group_id:
        node = transport.execute(GROUP_BY_ID, {"id": group_id})["group"]
        if node is None:
            raise UsageError(f"no group with the id {group_id!r} (-GroupName takes its name)")
        return _group(node)
    assert name is not None
    wanted = name.strip().casefold()
    found: list[GroupRef] = []
    after = None
    while True:
        page = transport.execute(
            GROUPS_BY_NAME, {"first": PAGE, "after": after, "search": name.strip()}
        )["groups"]
        found += [_group(n) for n in page["nodes"] if n["displayName"].casefold() == wanted]
        if not page["pageInfo"]["hasNextPage"] or not page["nodes"]:
            break
        after = page["pageInfo"]["endCursor"]
    if not found:
        raise UsageError(f"no group named {name!r}")
    if len(found) > 1:
        ids = ", ".join(g.id for g in found)
        raise UsageError(f"{len(found)} groups are named {name!r}; give -GroupId (one of {ids})")
    return found[0]


def lookup_users(transport: Transport, refs: Sequence[str]) -> dict[str, tuple[str, str]]:
    """ref (UPN or global id) -> (global id, UPN); a ref no user has is left out."""
    found: dict[str, tuple[str, str]] = {}
    distinct = list(dict.fromkeys(refs))
    for start in range(0, len(distinct), LOOKUP_CHUNK):
        chunk = distinct[start : start + LOOKUP_CHUNK]
        padded = chunk + [chunk[0]] * (LOOKUP_CHUNK - len(chunk))
        data = transport.execute(GROUP_USERS, {f"r{n}": r for n, r in enumerate(padded)})
        for n, ref in enumerate(chunk):
            user = data.get(f"u{n}")
            if user:
                found[ref] = (user["id"], user["userPrincipalName"])
    return found


def license_errors(transport: Transport, group: GroupRef) -> Iterator[list[dict[str, Any]]]:
    """Members in error for the group's licenses, a page at a time, in member order."""
    after = None
    while True:
        page = transport.execute(
            LICENSE_ERRORS, {"groupId": group.id, "first": PAGE, "after": after}
        )["usersWithLicenseErrors"]
        if page["nodes"]:
            yield page["nodes"]
        if not page["pageInfo"]["hasNextPage"] or not page["nodes"]:
            return
        after = page["pageInfo"]["endCursor"]


def errors_of(node: dict[str, Any], group: GroupRef) -> list[tuple[str, str]]:
    """(SKU, Entra's code) of the user's Error states this group gives."""
    return [
        (s["skuPartNumber"], s["error"] or "Other")
        for s in node["licenseAssignmentStates"]
        if s["assignedByGroup"] == group.id and s["state"] == "Error"
    ]


ERROR_SCHEMA = pl.Schema(
    {
        "Id": pl.String,
        "UserPrincipalName": pl.String,
        "DisplayName": pl.String,
        "UsageLocation": pl.String,
        "SkuPartNumber": pl.String,
        "Error": pl.String,
    }
)


def errors_frame(nodes: list[dict[str, Any]], group: GroupRef) -> pl.DataFrame:
    """One page of members in error: a row per user, their SKUs and codes `;`-joined in the
    same order (Graph's cmdlet returns the users; the states are what an admin fixes)."""
    found = [errors_of(n, group) for n in nodes]
    return pl.DataFrame(
        {
            "Id": [n["id"] for n in nodes],
            "UserPrincipalName": [n["userPrincipalName"] for n in nodes],
            "DisplayName": [n["displayName"] for n in nodes],
            "UsageLocation": [n["usageLocation"] for n in nodes],
            "SkuPartNumber": [";".join(sku for sku, _ in e) for e in found],
            "Error": [";".join(code for _, code in e) for e in found],
        },
        schema=ERROR_SCHEMA,
    )
