"""Shapes every area shares: Node and global ids, connections, userErrors."""

import base64
import binascii
from collections.abc import Callable
from typing import Generic, TypeVar

import strawberry

from commcredits.services.error_codes import ErrorCode, known
from commcredits.services.errors import DomainError, ErrorDetail
from commcredits.services.list_counts import COUNT_CAP, Count

T = TypeVar("T")


strawberry.enum(
    ErrorCode,
    name="ErrorCode",
    description="Every code of a refusal: `userErrors[].code`, and `errors[].extensions.code` of "
    "GraphQL and HTTP errors. Graph's codes keep Graph's spelling (`CountViolation`).",
)
for _value in ErrorCode.__strawberry_definition__.values:  # type: ignore[attr-defined]
    _value.description = ErrorCode(_value.value).description


@strawberry.type(description="A domain refusal: which input field, a stable code, a message.")
class UserError:
    field: str | None
    code: ErrorCode
    message: str

    @classmethod
    def from_detail(cls, detail: ErrorDetail) -> "UserError":
        return cls(field=detail.field, code=known(detail.code), message=detail.message)

    @classmethod
    def from_error(cls, error: DomainError) -> list["UserError"]:
        return [cls.from_detail(d) for d in error.details]


@strawberry.interface(description="An object with a global id (Relay).")
class Node:
    id: strawberry.ID


def to_global_id(type_name: str, pk: int | str) -> strawberry.ID:
    return strawberry.ID(base64.urlsafe_b64encode(f"{type_name}:{pk}".encode()).decode())


def from_global_id(gid: str) -> tuple[str, str] | None:
    """(type name, pk) for a well-formed global id, else None."""
    try:
        raw = base64.urlsafe_b64decode(gid.encode() + b"=" * (-len(gid) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    type_name, sep, pk = raw.partition(":")
    if not sep or not type_name or not pk:
        return None
    return type_name, pk


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@strawberry.type
class Edge(Generic[T]):
    node: T
    cursor: str


@strawberry.type
class Connection(Generic[T]):
    edges: list[Edge[T]]
    page_info: PageInfo
    _count: strawberry.Private[Callable[[], int]]

    @strawberry.field(description="Nodes of this page, without edges.")
    def nodes(self) -> list[T]:
        return [e.node for e in self.edges]

    @strawberry.field(description="All matches, not just this page (one COUNT query, if asked).")
    def total_count(self) -> int:
        return self._count()


# Named like Connection: CallRecord's is still CallRecordConnection, with one field more.
@strawberry.type(name="Connection")
class CappedConnection(Connection[T]):
    """A page of a list that can grow large, whose count stops at COUNT_CAP (issue 16)."""

    # Computed once, when totalCount or totalCountIsCapped is first asked.
    _count: strawberry.Private[Callable[[], Count]]

    @strawberry.field(
        description=f"Matches, not just this page. Exact where a number is kept; otherwise "
        f"counted up to {COUNT_CAP:,}: if there are more, this is {COUNT_CAP:,} and "
        "totalCountIsCapped is true."
    )
    def total_count(self) -> int:
        return self._count().total

    @strawberry.field(
        description=f"True when more than {COUNT_CAP:,} match and totalCount stopped counting "
        "there."
    )
    def total_count_is_capped(self) -> bool:
        return self._count().capped
