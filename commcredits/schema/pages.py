"""Cursor pages: a Connection by keyset, for root fields (resolvers/) and nested fields alike."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import functools
import re
from collections.abc import Callable
from typing import TypeVar

import peewee

from commcredits.ids import parse_pk
from commcredits.schema.common import CappedConnection, Connection, Edge, PageInfo
from commcredits.services.errors import DomainError
from commcredits.services.list_counts import Count, capped_count, in_id_order

N = TypeVar("N")

DEFAULT_PAGE = 50
MAX_PAGE = 100


def _cursor(pk: int, list_name: str) -> str:
    """A cursor is the row's sort key (its id), never an offset: a row added or removed
    before it moves no other row in or out of the next page. It names its list, so another
    list's cursor (whose id means another table's row) is refused, not read as a position."""
    return _encode(f"cursor:{list_name}:{pk}")


def _encode(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


def _decoded(cursor: str, list_name: str, prefix: str) -> str | None:
    """The part of `cursor` after `prefix:list_name:`, or None if it is not one of this list."""
    try:
        raw = base64.urlsafe_b64decode(cursor.encode() + b"=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    head = f"{prefix}:{list_name}:"
    return raw[len(head) :] if raw.startswith(head) else None


def _not_ours(cursor: str) -> DomainError:
    return DomainError("INVALID_CURSOR", f"'{cursor}' is not a cursor of this list.", "after")


def _decode_cursor(cursor: str, list_name: str) -> int:
    text = _decoded(cursor, list_name, "cursor")
    pk = parse_pk(text) if text is not None else None
    if pk is None:
        raise _not_ours(cursor)
    return pk


def paginate(
    query: peewee.ModelSelect,
    *,
    key: peewee.Field | tuple[peewee.Field, peewee.Field],
    first: int | None,
    after: str | None,
    to_node: Callable[[peewee.Model], N],
    descending: bool = False,
    count: Callable[[], Count] | None = None,
    capped: bool = False,
    total: Callable[[], int] | None = None,
) -> Connection[N]:
    """A forward page by keyset on `key` (one query; the count only if `totalCount` is asked).
    With `count`, a CappedConnection whose totalCount is `count()` (services/list_counts.py);
    `capped` is that with the query's own rows counted up to the cap (`capped_count`), for a
    list that grows with a tenant's age; with `total`, a Connection whose totalCount is
    `total()` instead of a COUNT.

    `key` is the id, or (a time column, the id): then rows come in that time's order, ties by
    id, and a cursor holds both (`_time_cursor`)."""
    if capped:
        count = functools.partial(capped_count, query)
    list_name = query.model._meta.table_name
    if isinstance(key, tuple):
        return _paginate_by_time(query, key, first, after, to_node, descending, count)
    size = page_size(first)
    page_query = query
    if after:
        start = _decode_cursor(after, list_name)
        page_query = page_query.where(key < start if descending else key > start)
    rows = in_id_order(page_query.order_by(key.desc() if descending else key.asc()).limit(size + 1))
    has_next = len(rows) > size
    rows = rows[:size]
    edges = [Edge(node=to_node(r), cursor=_cursor(getattr(r, key.name), list_name)) for r in rows]
    info = page_info(edges, has_next, after)
    if count is not None:
        return CappedConnection(edges=edges, page_info=info, _count=functools.cache(count))
    return Connection(edges=edges, page_info=info, _count=total or query.count)


def _paginate_by_time(
    query: peewee.ModelSelect,
    key: tuple[peewee.Field, peewee.Field],
    first: int | None,
    after: str | None,
    to_node: Callable[[peewee.Model], N],
    descending: bool,
    count: Callable[[], Count] | None,
) -> Connection[N]:
    """`paginate` by (time, id): one row-value comparison, which both databases answer from
    an index of (…, time, id) by a range scan that stops after a page."""
    time, pk = key
    size = page_size(first)
    page_query = query
    if after:
        at, start = _decode_time_cursor(after, query.model._meta.table_name)
        here = peewee.Tuple(time, pk)
        there = peewee.Tuple(time.db_value(at), start)
        page_query = page_query.where(here < there if descending else here > there)
    order = (time.desc(), pk.desc()) if descending else (time.asc(), pk.asc())
    rows = in_id_order(page_query.order_by(*order).limit(size + 1))
    has_next = len(rows) > size
    rows = rows[:size]
    edges = [
        Edge(
            node=to_node(r),
            cursor=_time_cursor(getattr(r, time.name), getattr(r, pk.name), query.model),
        )
        for r in rows
    ]
    info = page_info(edges, has_next, after)
    if count is not None:
        return CappedConnection(edges=edges, page_info=info, _count=functools.cache(count))
    return Connection(edges=edges, page_info=info, _count=query.count)


def _time_cursor(at: dt.datetime, pk: int, model: type[peewee.Model]) -> str:
    """A (time, id) cursor: the instant in microseconds since the epoch, and the id."""
    micros = (at - _EPOCH) // dt.timedelta(microseconds=1)
    return _encode(f"at:{model._meta.table_name}:{micros}.{pk}")


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MICROS = re.compile(r"-?[0-9]{1,18}")  # ASCII digits only: str.isdigit takes '²'


def _decode_time_cursor(cursor: str, list_name: str) -> tuple[dt.datetime, int]:
    """A (time, id) cursor's parts."""
    text = _decoded(cursor, list_name, "at")
    if text is not None:
        micros, _, rest = text.partition(".")
        pk = parse_pk(rest)
        if pk is not None and _MICROS.fullmatch(micros):
            try:
                return _EPOCH + dt.timedelta(microseconds=int(micros)), pk
            except OverflowError:
                pass
    raise _not_ours(cursor)


def page_size(first: int | None) -> int:
    size = DEFAULT_PAGE if first is None else first
    if size < 0 or size > MAX_PAGE:
        raise DomainError("INVALID_FIRST", f"first must be between 0 and {MAX_PAGE}.", "first")
    return size


def after_key(after: str | None, list_name: str) -> int | None:
    """The sort key (id) a cursor of the list `list_name` names; None for the first page."""
    return _decode_cursor(after, list_name) if after else None


def edges_of(
    rows: list[peewee.Model], to_node: Callable[[peewee.Model], N], list_name: str
) -> list[Edge[N]]:
    """A page's edges, each row's cursor its id in the list `list_name` (for pages a service
    reads itself; `after_key` takes the same name)."""
    return [Edge(node=to_node(r), cursor=_cursor(r.id, list_name)) for r in rows]


def page_info(edges: list[Edge[N]], has_next: bool, after: str | None) -> PageInfo:
    return PageInfo(
        has_next_page=has_next,
        has_previous_page=bool(after),
        start_cursor=edges[0].cursor if edges else None,
        end_cursor=edges[-1].cursor if edges else None,
    )
