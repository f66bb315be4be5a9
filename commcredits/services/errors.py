"""One exception type for every expected refusal; the API turns it into `userErrors`.

A code is a member of `error_codes.ErrorCode` (the catalog the schema's `ErrorCode` enum and the
README's table come from), passed as the member or as its string: tests/test_error_codes.py
reads every raise site and fails on a code the catalog lacks. Nothing checks it here, so that
building a refusal can never itself fail; an unknown code reaching the API is logged and
answered as INTERNAL_ERROR (`error_codes.known`).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ErrorDetail:
    code: str  # an ErrorCode member or its value
    message: str
    field: str | None = None


class DomainError(Exception):
    """An expected refusal: carries one or more (code, message, field) details."""

    def __init__(self, code: str, message: str, field: str | None = None):
        super().__init__(message)
        self.details: list[ErrorDetail] = [ErrorDetail(code, message, field)]

    @classmethod
    def many(cls, details: list[ErrorDetail]) -> DomainError:
        err = cls(details[0].code, details[0].message, details[0].field)
        err.details = list(details)
        return err

    @property
    def code(self) -> str:
        return self.details[0].code


def not_found(what: str, ref: object, field: str | None = "id") -> DomainError:
    # Graph's wording; also what another tenant's id gets (never "forbidden").
    return DomainError(
        "NOT_FOUND",
        f"Resource '{ref}' does not exist or one of its queried reference-property objects "
        f"are not present.",
        field,
    )


MAX_BATCH = 1000  # items in one batch mutation (SPEC: a batch caps its input)


def check_batch_size(n: int, field: str = "items") -> None:
    """The one batch limit of every batch mutation."""
    if n > MAX_BATCH:
        raise DomainError(
            "BATCH_TOO_LARGE",
            f"A batch takes at most {MAX_BATCH:,} items; this one has {n:,}.",
            field,
        )
