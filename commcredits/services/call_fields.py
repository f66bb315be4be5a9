"""What a call is, as clients and call records spell it: its type and its E.164 destination."""

from __future__ import annotations

import re

from commcredits.services.errors import DomainError

CALL_TYPES: tuple[str, ...] = (
    "DOMESTIC",
    "INTERNATIONAL",
    "CONFERENCE_DIAL_OUT",
    "TOLL_FREE_INBOUND",
)
# Bounded, one way to match each character: linear. Used with fullmatch ('$' would also take a
# trailing newline).
_E164 = re.compile(r"\+[1-9][0-9]{2,14}")
# Below this many digits a number is only an emergency short code in E.164 form (+49112,
# +1911): rating and authorizeCall take it only when the card lists it as emergency.
MIN_SUBSCRIBER_DIGITS = 7


def parse_destination(value: str | None, *, field: str = "destination") -> str:
    """E.164 digits (no '+') of `+<country code><number>`, 3–15 digits; else INVALID_DESTINATION.

    Fewer than 7 digits is an emergency short code after its country code (`+49112`); one the
    card does not list as emergency is not a number (rated NO_RATE)."""
    text = (value or "").strip()
    if not _E164.fullmatch(text):
        raise DomainError(
            "INVALID_DESTINATION",
            f"'{value}' is not an E.164 number: '+', a country code and 7 to 15 digits in all "
            f"(3 for an emergency short code), no spaces (e.g. +4930123456).",
            field,
        )
    return text[1:]


def parse_call_type(value: str | None, *, field: str = "callType") -> str:
    code = (value or "").strip().upper()
    if code not in CALL_TYPES:
        raise DomainError(
            "INVALID_CALL_TYPE",
            f"'{value}' is not a call type ({', '.join(CALL_TYPES)}).",
            field,
        )
    return code
