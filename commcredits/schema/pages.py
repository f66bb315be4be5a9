"""Cursor pages: a Connection by keyset, for root fields (resolvers/) and nested fields alike."""

from __future__ import annotations

import base64
import binascii
import functools
from collections.abc import Callable
from typing import TypeVar

import peewee

from commcredits.ids import parse_pk
from commcredits.schema.common import CappedConnection, Connection, Edge, PageInfo
from commcredits.services.errors import DomainError
from commcredits.services.list_counts import Count, in_id_order

N = TypeVar("N")

DEFAULT_PAGE = 50
MAX_PAGE = 100


def _cursor(pk: int) -> str:
    """A cursor is the row's sort key (its id), never an offset: a row added or removed
    before it moves no other row in or out of the next page."""
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
    count: Callable[[], Count] | None = None,
    total: Callable[[], int] | None = None,
) -> Connection[N]:
    """A forward page by keyset on `key` (one query; the count only if `totalCount` is asked).
    With `count`, a CappedConnection whose totalCount is `count()` (services/list_counts.py);
    with `total`, a Connection whose totalCount is `total()` instead of a COUNT."""
    size = page_size(first)
    page_query = query
    if after:
        start = _decode_cursor(after)
        page_query = page_query.where(key < start if descending else key > start)
    rows = in_id_order(page_query.order_by(key.desc() if descending else key.asc()).limit(size + 1))
    has_next = len(rows) > size
    rows = rows[:size]
    edges = [Edge(node=to_node(r), cursor=_cursor(getattr(r, key.name))) for r in rows]
    info = page_info(edges, has_next, after)
    if count is not None:
        return CappedConnection(edges=edges, page_info=info, _count=functools.cache(count))
    return Connection(edges=edges, page_info=info, _count=total or query.count)


def page_size(first: int | None) -> int:
    size = DEFAULT_PAGE if first is None else first
    if size < 0 or size > MAX_PAGE:
        raise DomainError("INVALID_FIRST", f"first must be between 0 and {MAX_PAGE}.", "first")
    return size


def after_key(after: str | None) -> int | None:
    """The sort key (id) a cursor names; None for the first page."""
    return _decode_cursor(after) if after else None


def edges_of(rows: list[peewee.Model], to_node: Callable[[peewee.Model], N]) -> list[Edge[N]]:
    """A page's edges, each row's cursor its id (for pages a service reads itself)."""
    return [Edge(node=to_node(r), cursor=_cursor(r.id)) for r in rows]


def page_info(edges: list[Edge[N]], has_next: bool, after: str | None) -> PageInfo:
    return PageInfo(
        has_next_page=has_next,
        has_previous_page=bool(after),
        start_cursor=edges[0].cursor if edges else None,
        end_cursor=edges[-1].cursor if edges else None,
    )
