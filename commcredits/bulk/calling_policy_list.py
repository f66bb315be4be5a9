"""What Get-CsTeamsCallingPolicy writes and Set-CsTeamsCallingPolicy reads first: the tenant's
calling policies, a page at a time, with Teams's built-in `Global` (no spending limit: what a
user with nothing granted has) listed first, as Teams lists it; the tenant's as `Tag:<name>`.
The changing commands are `calling_policy_cmdlets`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import polars as pl

from commcredits.bulk.errors import UsageError
from commcredits.bulk.transport import Transport

PAGE = 100  # the server's largest page (schema/pages.py MAX_PAGE)
BUILTIN = "Global"  # Teams's built-in instance: not a row of the tenant's, never changed here

CALLING_POLICIES_PAGE = """
query BulkCallingPolicies($first: Int!, $after: String) {
  tenant { currency }
  callingPolicies(first: $first, after: $after) {
    pageInfo { hasNextPage endCursor }
    edges { node { name description enableSpendLimits callingSpendUserLimit { amount currency } } }
  }
}
"""


def _pages(transport: Transport) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """(the tenant's currency, a page of its policies), oldest first."""
    after = None
    while True:
        data = transport.execute(CALLING_POLICIES_PAGE, {"first": PAGE, "after": after})
        page = data["callingPolicies"]
        yield data["tenant"]["currency"], [edge["node"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            return
        after = page["pageInfo"]["endCursor"]


def _key(name: str) -> str:
    text = name.strip()
    return (text[4:] if text[:4].lower() == "tag:" else text).strip().lower()


def find_policy(transport: Transport, name: str) -> dict[str, Any] | None:
    """The tenant's policy of that name (any case, Tag: or not); None: none such."""
    for _, nodes in _pages(transport):
        for node in nodes:
            if node["name"].lower() == _key(name):
                return node
    return None


POLICY_SCHEMA = pl.Schema(
    {
        "Identity": pl.String,
        "Description": pl.String,
        "EnableSpendLimits": pl.String,
        "CallingSpendUserLimit": pl.String,
        "Currency": pl.String,
    }
)


def get_calling_policies(transport: Transport, identity: str | None = None) -> pl.DataFrame:
    """The built-in Global (no limit) and the tenant's policies, as Teams lists them; with
    `identity`, that one (UsageError if the tenant has none of that name)."""
    rows: list[tuple[str, str, str, str | None, str]] = []
    currency = ""
    names: list[str] = []
    for currency, nodes in _pages(transport):
        for node in nodes:
            names.append(node["name"])
            limit = node.get("callingSpendUserLimit")
            rows.append(
                (
                    f"Tag:{node['name']}",
                    node["description"],
                    str(node["enableSpendLimits"]),
                    limit["amount"] if limit else None,
                    currency,
                )
            )
    builtin = (BUILTIN, "Teams's built-in policy: no spending limit.", "False", None, currency)
    rows.insert(0, builtin)
    if identity is not None:
        wanted = _key(identity)
        rows = [r for r in rows if _key(r[0]) == wanted]
        if not rows:
            listed = ", ".join([BUILTIN, *names])
            raise UsageError(f"no calling policy named {identity!r}; the tenant's are {listed}")
    columns = list(zip(*rows, strict=True))
    return pl.DataFrame(
        dict(zip(POLICY_SCHEMA.names(), columns, strict=True)), schema=POLICY_SCHEMA
    )
