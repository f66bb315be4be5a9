"""Primary keys as clients send them back (in global ids, cursors, the operator's tenant header).

One parser for all of them, accepting exactly what we write: ASCII digits, no sign, no leading
zero, within a 64-bit column. `"²".isdigit()` is true and `int("²")` fails; a 23-digit number
overflows the database's integer: both are "not found", never a 500.
"""

from __future__ import annotations

MAX_PK = 2**63 - 1


def parse_pk(text: str) -> int | None:
    """The key `text` names, or None when we could not have written it."""
    if not text or len(text) > 19 or not (text.isascii() and text.isdigit()):
        return None
    if text[0] == "0":
        return None
    pk = int(text)
    return pk if pk <= MAX_PK else None
