"""What a user search matches (docs/large-tenants.md): one normalized text per user.

`search_text` holds the user principal name, display name, given name, surname and other mail
addresses, each normalized as a search term is (NFKD, combining marks dropped, casefolded), one
per line. A term matches a user when its normalized form is a substring of that text: case and
accents never matter ("muller" finds "Müller"), a prefix is a substring, and no term can span
two fields, since a term never holds a line break.

The text is written by the service with the user row, on every write path; the indexes that
serve it (SQLite FTS5 trigram, PostgreSQL pg_trgm) are the migrations' (0012_large_tenants,
0020_search_index).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import peewee

from commcredits.db import db

# The fields a search looks at, as User columns.
SEARCHED = ("user_principal_name", "display_name", "given_name", "surname", "other_mails")
SEPARATOR = "\n"  # a normalized term collapses whitespace to " ": it never holds one
# The trigram index answers terms of at least this many characters; shorter ones are scanned.
MIN_INDEXED = 3


def normalize(text: str) -> str:
    """`text` as it is compared: compatibility-decomposed, combining marks dropped, casefolded,
    whitespace runs as one space. 'Müller' → 'muller', 'Straße' → 'strasse', 'Å' → 'a'."""
    # split + join collapses whitespace runs (str.isspace's, as `\s` knows them) and strips
    # the ends, without a regex.
    if text.isascii():  # most names: nothing to decompose, and casefold is lower (a bulk path)
        return " ".join(text.lower().split())
    # Casefolding can itself yield a combining mark ('İ' → 'i' + dot above), so marks are
    # dropped after it, from a decomposition of the folded text.
    folded = unicodedata.normalize("NFKD", unicodedata.normalize("NFKD", text).casefold())
    if folded.isascii():
        bare = folded
    elif max(folded) <= "\uffff":
        bare = _combining_marks().sub("", folded)
    else:
        bare = "".join(ch for ch in folded if not unicodedata.combining(ch))
    return " ".join(bare.split())


# Joins a column's values for one normalize pass: a control character that no step of
# normalize changes, moves or takes for whitespace, so the joined text splits back into each
# value normalized as on its own (NFKD reorders marks only between two starters; this is one).
_JOIN = "\x00"


def normalize_many(values: Sequence[str]) -> list[str]:
    """[normalize(v) for v in values], in a few passes over the joined column instead of a
    few calls per value: an import normalizes every name of a thousand rows per batch."""
    joined = _JOIN.join(values)
    if not values or joined.count(_JOIN) != len(values) - 1:  # a value holds the joiner
        return [normalize(v) for v in values]
    if joined.isascii():
        folded = joined.lower()
    else:
        folded = unicodedata.normalize("NFKD", unicodedata.normalize("NFKD", joined).casefold())
        if not folded.isascii():
            if max(folded) <= "\uffff":
                folded = _combining_marks().sub("", folded)
            else:
                folded = "".join(ch for ch in folded if not unicodedata.combining(ch))
    return [" ".join(part.split()) for part in folded.split(_JOIN)]


@functools.cache
def _combining_marks() -> re.Pattern[str]:
    """The Basic Multilingual Plane's combining marks as one character class: a regular
    expression deletes them in one C pass, four times faster than str.translate with a table
    (an import normalizes every name it writes)."""
    marks = [cp for cp in range(0x10000) if unicodedata.combining(chr(cp))]
    ranges = []
    start = prev = marks[0]
    for cp in marks[1:] + [-1]:
        if cp != prev + 1:
            ranges.append(f"\\u{start:04x}" + (f"-\\u{prev:04x}" if prev != start else ""))
            start = cp
        prev = cp
    return re.compile("[" + "".join(ranges) + "]")


def search_text(values: Mapping[str, Any]) -> str:
    """The stored search text of a user whose columns (or the given ones) are `values`."""
    parts: list[str] = []
    for name in SEARCHED:
        value = values.get(name)
        items: Iterable[Any] = value if isinstance(value, list) else [value or ""]
        parts.extend(str(item) for item in items)
    return text_of(parts)


def text_of(parts: Iterable[str]) -> str:
    """The search text of these field values: each normalized, the blank ones left out."""
    return SEPARATOR.join(n for n in map(normalize, parts) if n)


def search_text_of_user(user: Any) -> str:
    """The search text of a User row as it now stands."""
    return search_text({name: getattr(user, name) for name in SEARCHED})


def touches_search(names: Iterable[str]) -> bool:
    """Whether changing these columns changes the search text."""
    return any(name in SEARCHED for name in names)


def fts_query(tenant_id: int, term: str) -> str:
    """An FTS5 MATCH expression (SQLite): the tenant's key AND each distinct trigram of `term`
    (at least MIN_INDEXED characters), every one a quoted string with `"` doubled.

    The index keeps no positions (detail=none, migration 0020), so this finds the users whose
    text holds every trigram of the term somewhere: a superset of those holding the term. The
    caller keeps the ones whose text contains it (user_list._fts_matching, a LIKE on the
    joined row), so the index only narrows and never decides.
    """
    grams = dict.fromkeys(term[i : i + 3] for i in range(len(term) - 2))
    quoted = ('"' + part.replace('"', '""') + '"' for part in (tenant_key(tenant_id), *grams))
    return " AND ".join(quoted)


# A tenant's key in the FTS5 table: three characters of Unicode's private use area, i.e. one
# trigram, whose document list holds that tenant's users (and any user whose name holds those
# characters: the query also names the tenant on directory_user). ANDed with the term, the
# index steps through the smaller of the lists, so a search in a small tenant never walks a
# large tenant's matches. The triggers (migration 0020_search_index) compute the same key.
_KEY_BASE = 0xE000
_KEY_RADIX = 6400  # U+E000..U+F8FF


def tenant_key(tenant_id: int) -> str:
    digits = (
        tenant_id // (_KEY_RADIX * _KEY_RADIX) % _KEY_RADIX,
        tenant_id // _KEY_RADIX % _KEY_RADIX,
        tenant_id % _KEY_RADIX,
    )
    return "".join(chr(_KEY_BASE + d) for d in digits)


def tenant_key_sql(column: str) -> str:
    """SQLite's expression of `tenant_key` over an integer column (for the triggers)."""
    r = _KEY_RADIX
    return (
        f"char({_KEY_BASE} + {column} / {r * r} % {r}, {_KEY_BASE} + {column} / {r} % {r}, "
        f"{_KEY_BASE} + {column} % {r})"
    )


def write_search_texts(pairs: Sequence[tuple[int, str]], *, database: Any = None) -> None:
    """Set the search text of many users in one statement: (user id, text) pairs.

    An import that renames a thousand users sends one UPDATE per chunk, not one per user
    (their texts differ, so one UPDATE … SET cannot carry them)."""
    if not pairs:
        return
    target = database if database is not None else db.obj
    p = target.param
    rows = ", ".join([f"({p}, {p})"] * len(pairs))
    params = [value for pair in pairs for value in pair]
    if isinstance(target, peewee.SqliteDatabase):
        sql = (
            f'UPDATE "directory_user" SET search_text = v.column2 FROM (VALUES {rows}) AS v '
            'WHERE "directory_user".id = v.column1'
        )
    else:
        sql = (
            f'UPDATE "directory_user" AS u SET search_text = v.t FROM (VALUES {rows}) '
            "AS v(id, t) WHERE u.id = v.id::integer"
        )
    target.execute_sql(sql, params)
