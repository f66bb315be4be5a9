"""importUserColumns' shape: a batch of user rows given as one list per property.

Sending 1,000 users as 1,000 input objects costs the server more to check and convert than to
write them (issue 16: 4,000 rows/s against 54,000 for license batches, which travel as lists of
strings). As columns, each property is one list of scalars; they become the same `UserFields`
rows `upsert_users` takes, so every rule stays in one place.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from commcredits.services.errors import DomainError
from commcredits.services.users import UserFields

# UserFields' properties, in its order; userPrincipalName sets the batch's length.
PROPERTIES = [name for name in UserFields.__dataclass_fields__ if name != "user_principal_name"]


def rows_from_columns(
    user_principal_names: Sequence[str], columns: Mapping[str, Sequence[Any] | None]
) -> list[UserFields]:
    """One UserFields per user principal name; a column left out (None) gives every row
    None for its property (left as it is). A column of another length refuses the batch."""
    count = len(user_principal_names)  # upsert_users refuses more than a batch
    given: dict[str, Sequence[Any]] = {}
    for name, values in columns.items():
        if values is None:
            continue
        if name not in PROPERTIES:
            raise ValueError(f"not a user property: {name}")  # a programming error, not input
        if len(values) != count:
            raise DomainError(
                "COLUMN_LENGTH_MISMATCH",
                f"{_camel(name)} has {len(values):,} values for {count:,} user principal "
                "names; every column has one value (or null) per row.",
                _camel(name),
            )
        given[name] = values
    return [
        UserFields(user_principal_name=upn, **{name: values[i] for name, values in given.items()})
        for i, upn in enumerate(user_principal_names)
    ]


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)
