"""What a decoded GraphQL request body must not contain, and its operation's name for logs.

Shared by the HTTP endpoint (`graphql_http`) and the websocket (`websocket`), so both refuse
the same bodies before anything runs.
"""

from __future__ import annotations

import re
from typing import Any

MAX_JSON_DEPTH = 64  # far past any real variables; the cost estimator recurses through them
_OPERATION_NAME = re.compile(r"\s*(?:query|mutation|subscription)\s+([_A-Za-z][_0-9A-Za-z]*)")
_NUL_ESCAPE = re.compile(r"\\u(?:0000|\{0+\})")
# JSON may escape half a UTF-16 pair ("\\ud800"); json.loads keeps it as a code point no UTF-8
# encoder takes: PostgreSQL, the log line and the JSON answer that echoes it would each fail.
_SURROGATE = re.compile("[\ud800-\udfff]")


def operation_label(body: dict[str, Any]) -> str | None:
    """The operation's name for logs: `operationName`, else the first named operation."""
    name = body.get("operationName")
    if isinstance(name, str) and name:
        return name[:100]
    found = _OPERATION_NAME.match(body["query"])
    return found.group(1) if found else None


def screen_body(body: object) -> str | None:
    """Why a decoded request body is refused before anything runs, or None: JSON nested past
    MAX_JSON_DEPTH, or a NUL character in any text (PostgreSQL cannot store one, and no name,
    key or reference has one), in the variables or as an escape in the query, or a lone
    surrogate (not Unicode text at all; GraphQL's own escapes refuse one in the query)."""
    stack: list[tuple[object, int]] = [(body, 0)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            return f"The body is nested more than {MAX_JSON_DEPTH} levels deep."
        if isinstance(value, str):
            if "\x00" in value:
                return "NUL characters are not accepted in any text."
            if _SURROGATE.search(value):
                return "A lone surrogate (a \\ud800-\\udfff escape outside a pair) is not text."
        elif isinstance(value, dict):
            stack.extend((v, depth + 1) for v in value.values())
            stack.extend((k, depth + 1) for k in value)
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value)
    query = body.get("query") if isinstance(body, dict) else None
    if isinstance(query, str) and _NUL_ESCAPE.search(query):
        return "NUL characters are not accepted in any text."
    return None
