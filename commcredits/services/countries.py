"""Countries: ISO 3166-1 alpha-2 codes, the only values a usage location or tenant country may
take, and the names people write for them.

The codes and names come from maintained data, not from a table written here, so a country
that is renamed or added arrives with a package update:

- pycountry: ISO 3166-1 as Debian's iso-codes keeps it — the alpha-2 and alpha-3 codes, the
  ISO short, common and official names, and their gettext translations ('Deutschland',
  'Vereinigte Staaten', 'Russische Föderation').
- Babel: the Unicode CLDR's display names, the everyday names operating systems and admin
  portals show, which ISO's formal names miss for some thirty countries per language
  ('Russia' / 'Russland', 'Brunei', 'Vatican City' / 'Vatikanstadt', 'Cape Verde').

Microsoft's own lists below (embargo, calling plans) are policy, not ISO data, and stay
written out.
"""

from __future__ import annotations

import functools
import gettext
import unicodedata

import pycountry
from babel import Locale

ISO_COUNTRIES: frozenset[str] = frozenset(c.alpha_2 for c in pycountry.countries)

# Where Microsoft sells no online services at all (embargoed); nothing is assignable there.
EMBARGOED: frozenset[str] = frozenset({"CU", "IR", "KP", "SY"})

# Countries where Microsoft sells Teams Calling Plans (its country/region availability list).
CALLING_PLAN_COUNTRIES: tuple[str, ...] = tuple(
    """
    US CA PR GB IE DE AT CH FR BE NL LU DK NO SE FI ES PT IT PL CZ HU RO SK SI HR EE LT LV BG
    JP AU NZ
    """.split()
)

# Pay-as-you-go calling plan, country zone 1.
PAYG_ZONE_1_COUNTRIES: tuple[str, ...] = ("US", "CA", "PR", "GB")

EVERYWHERE_BUT_EMBARGOED: tuple[str, ...] = tuple(sorted(ISO_COUNTRIES - EMBARGOED))

# The languages whose country names are understood besides English: the admin center writes
# `Country or region` in the admin's display language (issue 12 asks for German). pycountry
# ships the translations of every language iso-codes has, Babel every CLDR locale; adding one
# is adding its code here.
NAME_LANGUAGES: tuple[str, ...] = ("de",)
MAX_COUNTRY_TEXT = 128  # the longest name we look up (the user's `country` column)


def normalize_country(value: str | None) -> str | None:
    """Upper-cased alpha-2 code, None for empty; raises ValueError for anything else."""
    if value is None:
        return None
    code = value.strip().upper()
    if not code:
        return None
    if code not in ISO_COUNTRIES:
        raise ValueError(code)
    return code


def _fold(text: str) -> str:
    """The form names are compared in: case-folded, accents dropped ('Österreich' = 'osterreich'
    = 'OSTERREICH'), typographic apostrophes plain, runs of whitespace one space."""
    decomposed = unicodedata.normalize("NFKD", text.replace("\u2019", "'"))
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(bare.casefold().split())


@functools.cache
def _lookup() -> dict[str, str]:
    """Folded code or name -> alpha-2: alpha-2, alpha-3, the ISO name, common name and official
    name in English and in each of NAME_LANGUAGES, then CLDR's name in each. Built once per
    process (≈1,300 keys, a few milliseconds). A key two countries share would be ambiguous:
    the first keeps it, and codes come before names so that no name can shadow a code (none
    does today). CLDR's territories that are no ISO country (XK, EU, regions) are left out:
    a usage location is an ISO 3166-1 code."""
    translations = [
        gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=[lang], fallback=True)
        for lang in NAME_LANGUAGES
    ]
    table: dict[str, str] = {}
    countries = list(pycountry.countries)
    for country in countries:
        table.setdefault(_fold(country.alpha_2), country.alpha_2)
        table.setdefault(_fold(country.alpha_3), country.alpha_2)
    for country in countries:
        names = [
            name
            for attr in ("name", "common_name", "official_name")
            if (name := getattr(country, attr, None))
        ]
        for name in names:
            table.setdefault(_fold(name), country.alpha_2)
            for translation in translations:
                table.setdefault(_fold(translation.gettext(name)), country.alpha_2)
    for lang in ("en", *NAME_LANGUAGES):
        for code, name in Locale(lang).territories.items():
            if code in ISO_COUNTRIES:
                table.setdefault(_fold(name), code)
    return table


def country_code(value: str) -> str | None:
    """The alpha-2 code for a code or name ('de', 'DEU', 'Germany', 'Deutschland', 'Vereinigte
    Staaten', 'Côte d’Ivoire'); None when it names no country."""
    if len(value) > MAX_COUNTRY_TEXT:
        return None
    return _lookup().get(_fold(value))


def normalize_usage_location(value: str | None) -> str | None:
    """A usage location as given (code or name, see `country_code`) -> alpha-2, None for empty;
    raises ValueError for anything that names no country."""
    if value is None or not value.strip():
        return None
    code = country_code(value)
    if code is None:
        raise ValueError(value)
    return code
