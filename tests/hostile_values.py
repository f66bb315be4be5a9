"""Hostile input values by class, which classes suit which slot, and how to send them
(tests/test_hostile_inputs.py).

A slot (tests/schema_walk.py) is one position in one argument of one field. Each gets the
classes that suit its type: a text slot every kind of bad text, an Int slot extreme numbers,
an ID slot crafted global ids, a list or input object slot bad structure — and every slot the
wrong JSON type and null.
"""

from __future__ import annotations

import base64
import datetime as dt
import itertools
import json
import re
from dataclasses import dataclass
from typing import Any

from graphql import GraphQLEnumType, GraphQLInputObjectType, GraphQLList, GraphQLNonNull
from hypothesis import strategies as st

from tests.schema_walk import Slot


@dataclass(frozen=True)
class Raw:
    """JSON text sent as it is (numbers json.dumps cannot write: 1e999999999, NaN, 5000 digits)."""

    text: str


def b64(text: str | bytes) -> str:
    raw = text.encode() if isinstance(text, str) else text
    return base64.urlsafe_b64encode(raw).decode()


def nested(depth: int, leaf: Any, *, key: str | None = None) -> Any:
    value = leaf
    for _ in range(depth):
        value = {key: value} if key else [value]
    return value


BIG = 200_000  # characters: long, and well under the body limit (past it is a 413, no more)

# The hostile values, by class. A slot gets every value of the classes PRIMARY names for its
# kind and one value (rotating over the slots) of each other class SLOT_CLASSES gives it, so
# every value is sent somewhere in each run and every slot gets every class.
# fmt: off
CLASSES: dict[str, list[Any]] = {
    "nul": ["\x00", "\x00abc", "ab\x00c"],  # refused before anything runs (400)
    "long": ["x" * 100_000, "é" * (BIG // 2), "9" * 100_000, "a@" + "b" * BIG, "+" + "1" * 60_000],
    "unicode_digits": ["²", "١٢٣", "１２３", "𝟏𝟐𝟑", "٢٠٢٦-١١", "Ⅻ", "০.৫"],  # isdigit(), not int()
    "numeric_text": [
        "1e999999999", "-1e999999999", "1e-999999999", "-0", "-0.00", "NaN", "sNaN",
        "Infinity", "-Infinity", "1e2", "0x1F", "1_000", " 1 ", "+1", "9" * 5000,
        "1" * 400 + ".5", "0." + "0" * 400 + "1",
    ],
    "dates": [  # and months: "2026-11" is how a billing month is written
        "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "2026-02-30T00:00:00Z",
        "2026-13-01T00:00:00Z", "2026-11-25T24:00:00Z", "2026-11-25T10:00:00+25:00",
        "+275760-09-13T00:00:00Z", "0000-01-01T00:00:00Z", "2026-11-25T10:00:00",
        "2026-11-25", "2026-W48-3", "9999-12", "0000-00", "2026-13", "2026-1", "0001-01",
    ],
    "blank": ["", " ", "\t\r\n", "\u200b", "\u3000", "\ufeff"],
    "surrogate": ["\ud800", "x\udfffy", "\ud83d"],  # half a UTF-16 pair, sent as a \u escape
    "odd_unicode": [
        "\u202eevil", "\u2066x\u2069", "e\u0301", "👩\u200d👩\u200d👧", "\uffff", "\U0010ffff",
        "İı", "ß", "\x07\x1b[31m", "a\r\nX-Injected: 1", "%s%n%x", "'; DROP TABLE tenant; --",
        "%_\\", "../../etc/passwd", "<script>alert(1)</script>", "${jndi:ldap://x}",
    ],
    "wrong_json_type": [1, 1.5, True, [], {}, ["x"], {"a": 1}],
    "null": [None],
    "numbers": [  # GraphQL's Int is 32 bits; the database's keys and money columns 64
        2**31, -(2**31) - 1, 2**31 - 1, -(2**31), 2**63, -(2**63) - 1, 2**64, 0, -1, 1.0,
        1.5, 1e308, -1e308, 10**400, Raw("1e999999999"), Raw("-1e999999999"), Raw("NaN"),
        Raw("Infinity"), Raw("-0"), Raw("1" + "0" * 4299), Raw("9" * 5000), "1",
    ],
    "booleans": ["true", 0, 1, "false", None],
    "enums": ["NOPE", "", "__typename", "\u202eX", 0],
    # Nesting: 100 levels is past the body's limit (400), 60 within it (GraphQL refuses it).
    "lists": [[], [None], nested(100, "x"), nested(60, "x"), "x", nested(2, "x")],
    "objects": [
        {}, {"unknown": 1}, nested(100, 1, key="a"), nested(60, 1, key="a"), "x", [],
        {"__proto__": {"a": 1}},
    ],
}
# fmt: on


def crafted_ids(type_name: str, foreign: str | None) -> list[str]:
    """Global ids (base64 "Type:pk") that parse badly or point nowhere; `foreign`: a real id
    of another tenant's object."""
    t = type_name
    values = [
        b64(f"{t}:²"), b64(f"{t}:99999999999999999999999"), b64(f"{t}:9223372036854775808"),
        b64(f"{t}:9223372036854775807"), b64(f"{t}:-1"), b64(f"{t}:0"), b64(f"{t}:01"),
        b64(f"{t}: 1"), b64(f"{t}:1\n"), b64(f"{t}:１"), b64(f"{t}:"), b64(t), b64(":1"),
        b64(f"{t}:1:2"), b64("Nope:1"), b64(b"\xff\xfe\xfd:1"), b64(f"{t}:\u202e1"),
        f"{t}:1", "not base64!!", "====", "A", b64("x" * 50_000),
        # Well formed but unpadded, or in the standard alphabet: a row that does not exist
        # (pk 1 would be this tenant's first key or user: revoked or deleted mid-run).
        b64(f"{t}:987654321").rstrip("="), base64.b64encode(f"{t}:987654321>?".encode()).decode(),
    ]  # fmt: skip
    if foreign:
        values.append(foreign)
    return values


_ID_NAME = re.compile(r"(^id$|Id$|^user$|PrincipalName)")

# The classes each kind of slot gets (and every slot `null`). Texts get every kind of text.
# fmt: off
_TEXT = ["nul", "long", "unicode_digits", "numeric_text", "dates", "blank", "surrogate",
         "odd_unicode", "wrong_json_type", "numbers"]
SLOT_CLASSES: dict[str, list[str]] = {
    "String": _TEXT,
    "ID": [*_TEXT, "ids"],
    "IDish": [*_TEXT, "ids"],  # a String that takes ids: userId (a global id or a UPN) …
    "Month": _TEXT,  # a String that takes a month ("2026-11"): every date and month value
    "Int": ["numbers", "numeric_text", "unicode_digits", "wrong_json_type", "blank", "nul"],
    "Decimal": ["numeric_text", "numbers", "unicode_digits", "wrong_json_type", "blank", "nul",
                "long", "surrogate"],
    "DateTime": ["dates", "numeric_text", "unicode_digits", "numbers", "wrong_json_type",
                 "blank", "nul", "long", "surrogate"],
    "Boolean": ["booleans", "wrong_json_type"],
    "enum": ["enums", "blank", "nul", "long", "surrogate", "wrong_json_type"],
    "list": ["lists"],
    "object": ["objects", "wrong_json_type"],
    # importUserColumns' columns: a JSON list of cells checked in one pass (schema/user_import.py)
    "TextColumn": ["lists", "wrong_json_type", "blank", "nul", "long", "surrogate", "odd_unicode"],
    "TextListColumn": ["lists", "wrong_json_type", "blank", "nul", "long", "surrogate"],
    "FlagColumn": ["lists", "wrong_json_type", "booleans", "blank", "nul", "numeric_text"],
}
# fmt: on
PRIMARY: dict[str, set[str]] = {
    "ID": {"ids"},
    "Month": {"dates"},
    "Int": {"numbers"},
    "Decimal": {"numeric_text", "numbers"},
    "DateTime": {"dates"},
    "Boolean": {"booleans"},
    "enum": {"enums"},
    "list": {"lists"},
    "object": {"objects"},
    "TextColumn": {"lists", "wrong_json_type"},
    "TextListColumn": {"lists", "wrong_json_type"},
    "FlagColumn": {"lists", "wrong_json_type"},
}


def kind_of(slot: Slot) -> str:
    """The key of SLOT_CLASSES for `slot`: its shape, or what its name says a text is."""
    shape = slot.shape
    if shape == "String" and _ID_NAME.search(slot.name):
        return "IDish"
    if shape == "String" and slot.name.lower().endswith("month"):
        return "Month"
    return shape if shape in SLOT_CLASSES else "String"  # JSON and others: as text


def classes_for(slot: Slot) -> list[str]:
    """The hostile classes for `slot`; every slot also gets null (refused where non-null)."""
    return [*SLOT_CLASSES[kind_of(slot)], "null"]


def encode(body: Any) -> bytes:
    """JSON with `Raw` values spliced in as they are, and lone surrogates as \\u escapes
    (ensure_ascii), which is how a client would send them."""
    raws: list[str] = []

    def default(value: Any) -> str:
        if isinstance(value, Raw):
            raws.append(value.text)
            return f"\x01raw{len(raws) - 1}\x01"
        raise TypeError(type(value).__name__)

    text = json.dumps(body, default=default)
    for index, raw in enumerate(raws):
        text = text.replace(f'"\\u0001raw{index}\\u0001"', raw, 1)
    return text.encode()


def literal(value: Any, t: Any = None) -> str:
    """Any value as a GraphQL literal (whatever the type wants: a mismatch is the point)."""
    if isinstance(t, GraphQLNonNull):
        t = t.of_type
    if value is None:
        return "null"
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        inner = t.of_type if isinstance(t, GraphQLList) else None
        return "[" + ", ".join(literal(v, inner) for v in value) + "]"
    if isinstance(value, dict):
        fields = t.fields if isinstance(t, GraphQLInputObjectType) else {}
        return (
            "{"
            + ", ".join(
                f"{k}: {literal(v, fields[k].type if k in fields else None)}"
                for k, v in value.items()
            )
            + "}"
        )
    if isinstance(t, GraphQLEnumType) and re.fullmatch(r"[_A-Za-z][_0-9A-Za-z]*", value):
        return value
    return json.dumps(value)


def set_path(value: Any, path: tuple[str | int, ...], new: Any) -> Any:
    """A copy of `value` with the position `path` replaced (made where missing)."""
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(head, int):
        items = list(value) if isinstance(value, list) and value else [None]
        items[0] = set_path(items[0], rest, new)
        return items
    copy = dict(value) if isinstance(value, dict) else {}
    copy[head] = set_path(copy.get(head), rest, new)
    return copy


@dataclass(frozen=True)
class Fresh:
    """A baseline value that must differ per request (a new tenant's name, an idempotency key):
    `{n}` in the template is a request counter."""

    template: str


_fresh = itertools.count()


def materialize(value: Any) -> Any:
    """`value` with every `Fresh` filled in."""
    if isinstance(value, Fresh):
        return value.template.format(n=next(_fresh))
    if isinstance(value, dict):
        return {k: materialize(v) for k, v in value.items()}
    if isinstance(value, list):
        return [materialize(v) for v in value]
    return value


def short(value: Any, limit: int = 120) -> str:
    """A value for a failure report: long texts cut, with their length."""
    text = encode(value).decode() if not isinstance(value, str) else json.dumps(value)
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text):,} chars)"


# -- open strategies (the property test draws from these as well as from CLASSES) ---------------


def _offset_datetimes() -> st.SearchStrategy[str]:
    """ISO 8601 texts at any year and any UTC offset up to ±23:59 (year 1 at +01:00 and year
    9999 at -01:00 have no UTC instant), with and without a zone."""
    offsets = st.integers(-(24 * 60 - 1), 24 * 60 - 1).map(
        lambda m: dt.timezone(dt.timedelta(minutes=m))
    )
    return st.builds(
        lambda moment, tz: moment.replace(tzinfo=tz).isoformat(),
        st.datetimes(min_value=dt.datetime.min, max_value=dt.datetime.max),
        st.none() | offsets,
    )


def _json_values() -> st.SearchStrategy[Any]:
    leaves = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
    return st.recursive(
        leaves,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
        max_leaves=12,
    )


def open_strategy(kind: str, id_types: list[str]) -> st.SearchStrategy[Any]:
    """Generated values for a slot of `kind` (see `kind_of`): any text, any integer, any float
    (NaN and infinities too), any date, crafted ids of any type, any JSON."""
    texts = st.text() | st.text(st.characters(codec="utf-8"), min_size=1, max_size=3)
    numbers = st.integers() | st.floats() | st.integers().map(str) | st.floats().map(repr)
    by_kind: dict[str, st.SearchStrategy[Any]] = {
        "String": texts,
        "ID": st.builds(
            lambda t, pk: b64(f"{t}:{pk}"),
            st.sampled_from([*id_types, "Nope", ""]),
            st.integers().map(str) | st.text(max_size=25),
        )
        | texts,
        "Int": numbers,
        "Decimal": st.decimals().map(str) | numbers,
        "DateTime": _offset_datetimes() | texts,
        "Boolean": st.booleans() | numbers | texts,
        "enum": texts,
        "list": st.lists(_json_values(), max_size=5),
        "object": st.dictionaries(st.text(max_size=12), _json_values(), max_size=4),
    }
    by_kind["IDish"] = by_kind["ID"]
    by_kind["Month"] = texts
    # The list scalars (importUserColumns' columns) are JSON lists, as "list" slots are.
    for column in ("TextColumn", "TextListColumn", "FlagColumn"):
        by_kind[column] = by_kind["list"]
    return by_kind[kind] | _json_values()
