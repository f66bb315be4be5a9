"""ISO 3166-1 alpha-2 codes: the only values a usage location or tenant country may take."""

from __future__ import annotations

ISO_COUNTRIES: frozenset[str] = frozenset(
    """
    AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ
    BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM
    DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS
    GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN
    KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ
    MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM
    PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV
    SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI
    VN VU WF WS YE YT ZA ZM ZW
    """.split()
)

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
