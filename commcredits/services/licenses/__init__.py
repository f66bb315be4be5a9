"""License assignment with Microsoft Graph's `assignLicense` semantics (SPEC §3).

One request = one user's `addLicenses` + `removeLicenses`, applied all or nothing. A batch is
many independent requests evaluated in input order against one in-memory picture of the
tenant (seats, the users' licenses), so seats are counted in order and a later item sees the
effect of an earlier one; the net change is then written with a few bulk statements.

The package's layout:
- `requests`: a request, its outcome, the user it names;
- `errors`: Graph's refusals, word for word;
- `rules`: what the rules make of one change (everything but the seat count);
- `picture`: what a batch loads, once; `write`: the net change and its audit entry;
- `assign`: a batch decided in order (the seat count) and applied, and its seat changes.
"""

from commcredits.services.licenses.assign import assign_license, assign_licenses, seat_changes
from commcredits.services.licenses.requests import (
    AddLicense,
    LicenseChange,
    LicenseOutcome,
    LicenseRequest,
)

__all__ = [
    "AddLicense",
    "LicenseChange",
    "LicenseOutcome",
    "LicenseRequest",
    "assign_license",
    "assign_licenses",
    "seat_changes",
]
