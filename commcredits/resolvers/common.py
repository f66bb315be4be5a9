"""Helpers every resolver uses: errors as payloads, global ids, cursor pages."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import TypeVar

import peewee
from strawberry.types import Info

from commcredits.ids import parse_pk
from commcredits.resolvers.context import Context
from commcredits.schema.common import Connection, Edge, PageInfo, UserError, from_global_id
from commcredits.services.errors import DomainError, not_found

P = TypeVar("P")
N = TypeVar("N")

DEFAULT_PAGE = 50
MAX_PAGE = 100


def ctx(info: Info) -> Context:
    return info.context


def guard(payload_cls: type[P], fn: Callable[[], P]) -> P:
    """Run a mutation; a domain refusal becomes the payload's userErrors."""
    try:
        return fn()
    except DomainError as error:
        return payload_cls(user_errors=UserError.from_error(error))


def decode_id(gid: str, type_name: str, *, field: str = "id") -> int:
    """The primary key behind a global id of `type_name`; anything else is 'not found'."""
    decoded = from_global_id(gid or "")
    pk = parse_pk(decoded[1]) if decoded is not None and decoded[0] == type_name else None
    if pk is None:
        raise not_found(type_name, gid, field)
    return pk


def user_ref(value: str, *, field: str = "userId") -> int | str:
    """A user's global id → its pk; anything else is taken as a user principal name."""
    decoded = from_global_id(value or "")
    if decoded is not None and decoded[0] == "User":
        pk = parse_pk(decoded[1])
        if pk is None:
            raise not_found("User", value, field)
        return pk
    if "@" not in (value or ""):
        raise not_found("User", value, field)
    return value


def _cursor(pk: int) -> str:
    return base64.urlsafe_b64encode(f"cursor:{pk}".encode()).decode()


def _decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor.encode() + b"=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raw = ""
    prefix, _, text = raw.partition(":")
    pk = parse_pk(text) if prefix == "cursor" else None
    if pk is None:
        raise DomainError("INVALID_CURSOR", f"'{cursor}' is not a cursor of this list.", "after")
    return pk


def paginate(
    query: peewee.ModelSelect,
    *,
    key: peewee.Field,
    first: int | None,
    after: str | None,
    to_node: Callable[[peewee.Model], N],
    descending: bool = False,
) -> Connection[N]:
    """A forward page by keyset on `key` (one query; the count only if `totalCount` is asked)."""
    size = DEFAULT_PAGE if first is None else first
    if size < 0 or size > MAX_PAGE:
        raise DomainError("INVALID_FIRST", f"first must be between 0 and {MAX_PAGE}.", "first")
    page_query = query
    if after:
        start = _decode_cursor(after)
        page_query = page_query.where(key < start if descending else key > start)
    rows = list(page_query.order_by(key.desc() if descending else key.asc()).limit(size + 1))
    has_next = len(rows) > size
    rows = rows[:size]
    edges = [Edge(node=to_node(r), cursor=_cursor(getattr(r, key.name))) for r in rows]
    return Connection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=has_next,
            has_previous_page=bool(after),
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        ),
        _count=query.count,
    )
