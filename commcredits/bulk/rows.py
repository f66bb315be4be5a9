"""Reading a sheet's rows the same way in every command: the key column's names, keys that are
missing or repeated, lists and flags in cells."""

from __future__ import annotations

import re
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import polars as pl

from commcredits.money import parse_amount

# The API's own limits, not rules copied: a longer value makes the server refuse the whole
# request that carries it, so the bulk layer fails that row alone and never sends it.
from commcredits.schema.input_limits import (  # noqa: F401 - re-exported for the commands
    DEFAULT_MAX_LENGTH,
    IDEMPOTENCY_KEY,
    USER_PRINCIPAL_NAME,
)
from commcredits.services.users import TEXT_LIMITS  # noqa: F401

UPN_NAMES = (
    "UserPrincipalName",
    "User principal name",
    "UPN",
    "User Name",
    "UserName",
    "User",
    "UserId",
    "Sign-in name",
)

_TRUE = {"true", "yes", "y", "1", "enabled", "$true"}
_FALSE = {"false", "no", "n", "0", "disabled", "$false"}


def cell_bool(value: str) -> bool | None:
    """A true/false cell (`yes`, `1`, `Enabled`, `$false`, …); None when it is neither."""
    low = value.strip().lower()
    return True if low in _TRUE else False if low in _FALSE else None


# A number with its thousands grouped: 1.000 / 1,000 / 1 000 (then the decimals, if any).
_GROUPED = re.compile(r"-?\d{1,3}(?:([.,  ])\d{3})+")


def command_amount(text: str) -> Decimal:
    """An amount given on the command line: PowerShell's invariant form ('.' is the decimal
    point; a ',' is taken for one too). ValueError says what is wrong."""
    return parse_amount(text.strip().replace(",", "."))


def cell_amount(text: str) -> Decimal:
    """An amount as a sheet or a command line writes it, in the API's form (money.parse_amount):
    "1000.50" and "1000,50" (a decimal comma, as German Excel writes it), grouped thousands
    ("1.000,50", "1,000.50", "1 000"). A single separator followed by exactly three digits
    ("1.000", "1,000") is refused as ambiguous — a thousand, or one with three decimals? —
    rather than guessed: money is never read by a guess. ValueError says what is wrong."""
    value = text.strip()
    last = max(value.rfind("."), value.rfind(","))
    head, tail = (value[:last], value[last + 1 :]) if last >= 0 else (value, "")
    whole = head.removeprefix("-")
    if (
        last >= 0
        and len(tail) == 3
        and tail.isdigit()
        and whole not in ("", "0")  # 0.500 is no thousand
        and not re.search(r"[.,  ]", head)
    ):
        raise ValueError(
            f"{value!r} is ambiguous (a thousand, or three decimals?): write it without "
            f"thousands separators, e.g. 1000 or 1000.50"
        )
    grouped = _GROUPED.fullmatch(value)
    if grouped:  # only grouping: a whole number
        return parse_amount(re.sub(r"[.,  ]", "", value))
    if last >= 0 and _GROUPED.fullmatch(head) and tail.isdigit():
        # grouped thousands, then the decimals after the other separator
        separator = _GROUPED.fullmatch(head).group(1)
        if separator == value[last]:
            raise ValueError(f"{value!r} is not an amount: the same separator twice")
        return parse_amount(re.sub(r"[.,  ]", "", head) + "." + tail)
    return parse_amount(value.replace(",", "."))


def pick(values: list[Any], idx: Sequence[int]) -> list[Any]:
    """values[i] for each index, as one slice when the indexes are a range (the common case:
    every row of a sheet shares the command's change)."""
    if isinstance(idx, range) and idx.step == 1:
        return values[idx.start : idx.stop]
    return [values[i] for i in idx]


def split_list(value: str | None) -> list[str]:
    """`A;B`, `A,B`, `A+B` or `contoso:A+contoso:B` (the M365 export's Licenses column)."""
    if not value:
        return []
    parts = [p.strip() for p in re.split(r"[;,+\s]+", value) if p.strip()]
    return [p.rsplit(":", 1)[-1] for p in parts]


def _missing_key(what: str) -> tuple[str, str]:
    return "MissingKey", f"This row has no {what}."


def _duplicate_key(key: str, first_row: int) -> tuple[str, str]:
    return "DuplicateRow", f"{key} already appears in row {first_row}; this row was not sent."


def too_long(value: str | None, limit: int, what: str) -> tuple[str, str] | None:
    """(code, message) for a cell longer than the API takes: the server would refuse the
    whole request that carried it (VALUE_TOO_LONG), so the row fails alone, unsent."""
    if value is None or len(value) <= limit:
        return None
    return (
        "VALUE_TOO_LONG",
        f"The {what} has {len(value):,} characters; the API takes at most {limit:,}. This row "
        f"was not sent.",
    )


def key_faults(
    rows: Sequence[int], keys: Sequence[str | None], what: str, *, max_length: int
) -> dict[int, tuple[str, str]]:
    """The rows whose key cannot be sent, for a whole column at once: index -> (code, message)
    for a missing key, one longer than `max_length`, or a key repeated (case-insensitively) on
    a later row, which is reported and not sent; the first occurrence goes on."""
    blank_as_null = [k or None for k in keys]
    frame = pl.DataFrame({"norm": blank_as_null}, schema={"norm": pl.String}).with_row_index("i")
    frame = frame.with_columns(pl.col("norm").str.to_lowercase())  # Unicode, as str.lower()
    faults = frame.with_columns(first=pl.col("i").first().over("norm")).filter(
        pl.col("norm").is_null() | (pl.col("i") != pl.col("first"))
    )
    out: dict[int, tuple[str, str]] = {}
    for i, key, first_i in zip(
        faults["i"].to_list(), faults["norm"].to_list(), faults["first"].to_list(), strict=True
    ):
        out[i] = _missing_key(what) if key is None else _duplicate_key(keys[i], rows[first_i])
    long = frame.filter(pl.col("norm").str.len_chars() > max_length)["i"].to_list()
    for i in long:
        out[i] = too_long(keys[i], max_length, what) or _missing_key(what)
    return out
