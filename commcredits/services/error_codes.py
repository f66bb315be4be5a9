"""The catalog of error codes: every code the service gives, with its area and its meaning.

One enum for all areas, because a frontend switches on one field (`userErrors[].code`, and
`errors[].extensions.code` of GraphQL and HTTP errors) and codes like FORBIDDEN or NOT_FOUND
are shared by every area. The GraphQL schema exposes it as the enum `ErrorCode` with these
descriptions; README.md's table of codes is generated from it (`python -m
commcredits.services.error_table` rewrites it) and a test keeps both in step.

Members are `str`s equal to their wire spelling, so raise sites pass either a member or the
literal (tests/test_error_codes.py checks that every literal passed as a code is a member,
and that every member is raised somewhere). Graph's codes keep Graph's spelling
(`CountViolation`), ours are UPPER_SNAKE.
"""

from __future__ import annotations

import logging
from enum import StrEnum

log = logging.getLogger("commcredits.errors")

REQUEST = "request"  # the HTTP / GraphQL layer: errors[].extensions.code
ACCESS = "access"
INPUT = "input"  # any field's input
DIRECTORY = "directory"
LICENSES = "licenses"  # Graph's assignLicense refusals, Graph's spelling
CREDITS = "credits"
BILLING = "billing"
CALLS = "calls"
RATES = "rates"
WEBHOOKS = "webhooks"


class ErrorCode(StrEnum):
    """A stable error code; the value is the spelling on the wire."""

    area: str
    description: str

    def __new__(cls, value: str, area: str, description: str) -> ErrorCode:
        member = str.__new__(cls, value)
        member._value_ = value
        member.area = area
        member.description = description
        return member

    # -- the HTTP and GraphQL layer (errors[].extensions.code) --------------------------------
    BAD_REQUEST = "BAD_REQUEST", REQUEST, "The body or message is not a GraphQL request (HTTP 400)."
    UNSUPPORTED_MEDIA_TYPE = (
        "UNSUPPORTED_MEDIA_TYPE",
        REQUEST,
        "The body is not `application/json` (HTTP 415).",
    )
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE", REQUEST, "The request body is too large (HTTP 413)."
    METHOD_NOT_ALLOWED = (
        "METHOD_NOT_ALLOWED",
        REQUEST,
        "The address does not take this HTTP method (HTTP 405); `Allow` lists those it takes.",
    )
    GRAPHQL_VALIDATION_FAILED = (
        "GRAPHQL_VALIDATION_FAILED",
        REQUEST,
        "The document or its variables do not validate against the schema.",
    )
    QUERY_TOO_COMPLEX = (
        "QUERY_TOO_COMPLEX",
        REQUEST,
        "The document is too deep, too large once fragments are spread, or has too many aliases.",
    )
    QUERY_TOO_EXPENSIVE = (
        "QUERY_TOO_EXPENSIVE",
        REQUEST,
        "The query's computed cost is above the limit (`extensions.cost` says how much).",
    )
    INTERNAL_ERROR = (
        "INTERNAL_ERROR",
        REQUEST,
        "A bug or an outage: quote `extensions.requestId` (HTTP 500 outside GraphQL).",
    )
    UNAUTHENTICATED = (
        "UNAUTHENTICATED",
        REQUEST,
        "No credential, or an unknown, revoked, expired or malformed one (HTTP 401).",
    )
    CSRF_FAILED = (
        "CSRF_FAILED",
        REQUEST,
        "A cookie-signed request from another site or without X-CSRF-Token (HTTP 403).",
    )
    RATE_LIMITED = (
        "RATE_LIMITED",
        REQUEST,
        "Too many failed authentications from this address or key; retry later (HTTP 429).",
    )
    JWKS_UNAVAILABLE = (
        "JWKS_UNAVAILABLE",
        REQUEST,
        "The identity provider's signing keys cannot be fetched; retry later (HTTP 503).",
    )

    # -- access: roles, tenants, keys -----------------------------------------------------------
    FORBIDDEN = "FORBIDDEN", ACCESS, "The caller's role may not do this."
    TENANT_REQUIRED = (
        "TENANT_REQUIRED",
        ACCESS,
        "The field acts on one tenant: an operator key names it in X-Commcredits-Tenant.",
    )
    INVALID_ROLE = "INVALID_ROLE", ACCESS, "An operator key cannot belong to a tenant."
    NOT_FOUND = (
        "NOT_FOUND",
        ACCESS,
        "No such object, or another tenant's (Graph's wording; never FORBIDDEN).",
    )

    # -- any input ------------------------------------------------------------------------------
    VALUE_TOO_LONG = "VALUE_TOO_LONG", INPUT, "A string or list is longer than its field allows."
    TOO_MANY_VALUES = "TOO_MANY_VALUES", INPUT, "A list field holds more values than allowed."
    BATCH_TOO_LARGE = "BATCH_TOO_LARGE", INPUT, "A batch mutation takes at most 1,000 items."
    COLUMN_LENGTH_MISMATCH = (
        "COLUMN_LENGTH_MISMATCH",
        INPUT,
        "A column of importUserColumns is not as long as userPrincipalName.",
    )
    INVALID_ARGUMENT = "INVALID_ARGUMENT", INPUT, "A required one of several arguments is missing."
    INVALID_FIRST = "INVALID_FIRST", INPUT, "`first` is outside 0 to 100."
    INVALID_CURSOR = "INVALID_CURSOR", INPUT, "`after` is not a cursor of this list."
    INVALID_DECIMAL = (
        "INVALID_DECIMAL",
        INPUT,
        "A Decimal is not a finite decimal string (a float, NaN, or too many digits).",
    )
    INVALID_DATETIME = "INVALID_DATETIME", INPUT, "A date-time has no UTC instant (out of range)."
    AS_OF_IN_FUTURE = "AS_OF_IN_FUTURE", INPUT, "`asOf` is after the server's clock."

    # -- directory: tenants and users ----------------------------------------------------------
    INVALID_NAME = (
        "INVALID_NAME",
        DIRECTORY,
        "A name is empty or too long, or a tenant name is only digits.",
    )
    DUPLICATE_TENANT = "DUPLICATE_TENANT", DIRECTORY, "A tenant with this name exists."
    INVALID_AGREEMENT_TYPE = (
        "INVALID_AGREEMENT_TYPE",
        DIRECTORY,
        "The agreement type is not MCA, MOSA or EA.",
    )
    INVALID_COUNTRY = (
        "INVALID_COUNTRY",
        DIRECTORY,
        "Not an ISO 3166-1 alpha-2 country code (a tenant, SKU, rate or billing country).",
    )
    INVALID_CURRENCY = "INVALID_CURRENCY", DIRECTORY, "Not a currency the service bills in."
    INVALID_USER_PRINCIPAL_NAME = (
        "INVALID_USER_PRINCIPAL_NAME",
        DIRECTORY,
        "A user principal name is missing or not of the form alias@domain.",
    )
    DUPLICATE_USER_PRINCIPAL_NAME = (
        "DUPLICATE_USER_PRINCIPAL_NAME",
        DIRECTORY,
        "Another user of the tenant has this user principal name (case-insensitive).",
    )
    DUPLICATE_IN_BATCH = (
        "DUPLICATE_IN_BATCH",
        DIRECTORY,
        "The same user principal name appears twice in one import.",
    )
    INVALID_USAGE_LOCATION = (
        "INVALID_USAGE_LOCATION",
        DIRECTORY,
        "A usage location is neither an ISO 3166-1 code nor a country name.",
    )
    INVALID_EMAIL = "INVALID_EMAIL", DIRECTORY, "Not an e-mail address."
    INVALID_SEARCH = "INVALID_SEARCH", DIRECTORY, "A user search is too long."

    # -- licenses and seats (Graph's refusals keep Graph's spelling) ---------------------------
    InvalidSku = "InvalidSku", LICENSES, "No such SKU (by GUID or part number)."
    InvalidServicePlan = (
        "InvalidServicePlan",
        LICENSES,
        "A disabled plan is not a service plan of the SKU.",
    )
    InvalidLicenseOperation = (
        "InvalidLicenseOperation",
        LICENSES,
        "The same SKU is both added and removed.",
    )
    ProhibitedInUsageLocationViolation = (
        "ProhibitedInUsageLocationViolation",
        LICENSES,
        "The user has no usage location, or a license it holds or gets is not sold there.",
    )
    CountViolation = "CountViolation", LICENSES, "The SKU has no free seat."
    GROUP_HAS_LICENSES = (
        "GROUP_HAS_LICENSES",
        DIRECTORY,
        "A licensed group, or one still losing its licenses, too large to delete in one "
        "transaction.",
    )
    DependencyViolation = (
        "DependencyViolation",
        LICENSES,
        "A calling plan needs Teams Phone (MCOEV), which is missing or would be removed.",
    )
    MutuallyExclusiveViolation = (
        "MutuallyExclusiveViolation",
        LICENSES,
        "Two calling plans cannot be assigned together.",
    )
    WHAT_IF_REQUIRED = (
        "WHAT_IF_REQUIRED",
        LICENSES,
        "`priorSeatChanges` is taken with `whatIf: true` only.",
    )
    INVALID_CHANGE_INDEXES = (
        "INVALID_CHANGE_INDEXES",
        LICENSES,
        "`changeIndexes` does not give one valid index (or null) per user.",
    )
    INVALID_QUANTITY = (
        "INVALID_QUANTITY",
        LICENSES,
        "A seat count is not a whole number in range.",
    )
    SEATS_BELOW_CONSUMED = (
        "SEATS_BELOW_CONSUMED",
        LICENSES,
        "Seats cannot go below the licenses assigned.",
    )

    # -- credits ----------------------------------------------------------------------------
    INVALID_AMOUNT = (
        "INVALID_AMOUNT",
        CREDITS,
        "An amount is missing, not a decimal string, or not above 0.",
    )
    INVALID_PRECISION = (
        "INVALID_PRECISION",
        CREDITS,
        "An amount has more decimals than the currency's minor unit.",
    )
    AMOUNT_TOO_LARGE = "AMOUNT_TOO_LARGE", CREDITS, "An amount is above the maximum."
    CURRENCY_MISMATCH = (
        "CURRENCY_MISMATCH",
        CREDITS,
        "The amount's currency is not the tenant's.",
    )
    INSUFFICIENT_BALANCE = (
        "INSUFFICIENT_BALANCE",
        CREDITS,
        "The credit balance cannot cover the amount.",
    )
    INVALID_DAYS = "INVALID_DAYS", CREDITS, "`days` is below 1."
    REASON_REQUIRED = (
        "REASON_REQUIRED",
        CREDITS,
        "An adjustment or a PSTN block needs a reason (1 to 500 characters).",
    )
    INVALID_IDEMPOTENCY_KEY = (
        "INVALID_IDEMPOTENCY_KEY",
        CREDITS,
        "An idempotency key has 1 to 200 characters.",
    )
    IDEMPOTENCY_KEY_REUSED = (
        "IDEMPOTENCY_KEY_REUSED",
        CREDITS,
        "The idempotency key was used for a different request.",
    )
    INVALID_RECHARGE_AMOUNT = (
        "INVALID_RECHARGE_AMOUNT",
        CREDITS,
        "The automatic recharge amount is not a valid amount.",
    )
    INVALID_TRIGGER_BALANCE = (
        "INVALID_TRIGGER_BALANCE",
        CREDITS,
        "The balance that triggers a recharge is not a valid amount.",
    )
    INVALID_MAX_RECHARGES_PER_DAY = (
        "INVALID_MAX_RECHARGES_PER_DAY",
        CREDITS,
        "`maxRechargesPerDay` is out of range.",
    )
    RECHARGE_SETTINGS_INCOMPLETE = (
        "RECHARGE_SETTINGS_INCOMPLETE",
        CREDITS,
        "Automatic recharge needs an amount and a trigger balance.",
    )
    RECHARGE_PENDING = (
        "RECHARGE_PENDING",
        CREDITS,
        "Warning: an automatic recharge awaits the payment provider's answer.",
    )
    RECHARGE_FAILED = (
        "RECHARGE_FAILED",
        CREDITS,
        "Warning: an automatic recharge was declined; no new try for an hour.",
    )
    RECHARGE_CAPPED = (
        "RECHARGE_CAPPED",
        CREDITS,
        "Warning: automatic recharge reached `maxRechargesPerDay` today.",
    )
    MCA_NO_PURCHASE_NEEDED = (
        "MCA_NO_PURCHASE_NEEDED",
        CREDITS,
        "A Microsoft Customer Agreement tenant does not buy credits (billed in arrears).",
    )
    MCA_AUTO_RECHARGE_NOT_SUPPORTED = (
        "MCA_AUTO_RECHARGE_NOT_SUPPORTED",
        CREDITS,
        "A Microsoft Customer Agreement tenant has no automatic recharge.",
    )
    NOT_MCA_TENANT = (
        "NOT_MCA_TENANT",
        CREDITS,
        "Credit limits and billing periods are for MCA (postpaid) tenants only.",
    )
    CREDIT_LIMIT_REACHED = (
        "CREDIT_LIMIT_REACHED",
        CREDITS,
        "Postpaid usage would pass the tenant's credit limit.",
    )
    PERIOD_CLOSED = "PERIOD_CLOSED", CREDITS, "The billing period is already invoiced."
    PERIOD_NOT_ENDED = "PERIOD_NOT_ENDED", CREDITS, "The billing period has not ended yet."
    INVALID_MONTH = "INVALID_MONTH", CREDITS, "Not a month (YYYY-MM)."

    # -- billing profile and payments -----------------------------------------------------------
    INVALID_VAT_ID = "INVALID_VAT_ID", BILLING, "Not a VAT id."
    INVALID_PAYMENT_METHOD = (
        "INVALID_PAYMENT_METHOD",
        BILLING,
        "The payment method is not INVOICE or CARD.",
    )
    CARD_NUMBER_NOT_ALLOWED = (
        "CARD_NUMBER_NOT_ALLOWED",
        BILLING,
        "A card number was sent: send the payment provider's card token.",
    )
    INVALID_CARD_TOKEN = "INVALID_CARD_TOKEN", BILLING, "Not a card token."
    CARD_TOKEN_REQUIRED = "CARD_TOKEN_REQUIRED", BILLING, "Paying by card needs a card token."
    PAYMENT_DECLINED = (
        "PAYMENT_DECLINED",
        BILLING,
        "The payment method declined the charge; the invoice is marked failed.",
    )
    PAYMENT_PENDING = (
        "PAYMENT_PENDING",
        BILLING,
        "The payment provider has not answered; retry with the same idempotency key.",
    )

    # -- calls ------------------------------------------------------------------------------------
    INVALID_CALL_ID = "INVALID_CALL_ID", CALLS, "`callId` has 1 to 128 characters."
    USER_REQUIRED = "USER_REQUIRED", CALLS, "A call needs `userId` or `userPrincipalName`."
    INVALID_DURATION = (
        "INVALID_DURATION",
        CALLS,
        "`durationSeconds` is not a whole number of seconds in range.",
    )
    START_IN_FUTURE = "START_IN_FUTURE", CALLS, "`startedAt` is in the future."
    INVALID_CALL_TYPE = "INVALID_CALL_TYPE", CALLS, "Not a call type."
    INVALID_DESTINATION = "INVALID_DESTINATION", CALLS, "Not an E.164 number."
    UNKNOWN_POLICY = (
        "UNKNOWN_POLICY",
        CALLS,
        "Not one of the nine dial-out policies or the tenant's calling policies (the message "
        "lists them).",
    )
    INVALID_POLICY_NAME = (
        "INVALID_POLICY_NAME",
        CALLS,
        "A calling policy name is empty, too long, or Global (Teams's built-in instance).",
    )
    POLICY_NAME_TAKEN = (
        "POLICY_NAME_TAKEN",
        CALLS,
        "The tenant already has a calling policy of that name (in any case).",
    )
    POLICY_IN_USE = (
        "POLICY_IN_USE",
        CALLS,
        "The calling policy is granted (to users, groups or globally): grant another one first.",
    )
    INVALID_POLICY_TYPE = (
        "INVALID_POLICY_TYPE",
        CALLS,
        "Not a policy type a group takes: TeamsCallingPolicy (CALLING) or CsOnlineDialOutPolicy "
        "(DIAL_OUT).",
    )
    INVALID_RANK = (
        "INVALID_RANK",
        CALLS,
        "A group policy assignment's rank is not a whole number from 1 (the highest).",
    )

    # -- rate cards -------------------------------------------------------------------------------
    INVALID_PREFIX = "INVALID_PREFIX", RATES, "A prefix is not E.164 digits."
    INVALID_PRICE = "INVALID_PRICE", RATES, "A price per minute is not a number in range."
    INVALID_ZONE = "INVALID_ZONE", RATES, "A zone is longer than 8 characters."
    INVALID_PREMIUM = "INVALID_PREMIUM", RATES, "`premium` is not true or false."
    INVALID_EMERGENCY = (
        "INVALID_EMERGENCY",
        RATES,
        "`emergency` is not true or false, or an emergency row has a price.",
    )
    DUPLICATE_RATE = (
        "DUPLICATE_RATE",
        RATES,
        "Two rows price the same call type, prefix and currency.",
    )
    EMPTY_RATE_CARD = "EMPTY_RATE_CARD", RATES, "The rate card has no rows."
    RATE_CARD_TOO_LARGE = "RATE_CARD_TOO_LARGE", RATES, "The rate card has too many rows."
    FILE_NOT_FOUND = "FILE_NOT_FOUND", RATES, "The rate file does not exist (command line)."
    UNSUPPORTED_FILE = (
        "UNSUPPORTED_FILE",
        RATES,
        "The rate file is not .csv, .xlsx or .parquet (command line).",
    )
    MISSING_COLUMNS = "MISSING_COLUMNS", RATES, "The rate file lacks required columns."

    # -- webhooks ---------------------------------------------------------------------------------
    INVALID_WEBHOOK_URL = "INVALID_WEBHOOK_URL", WEBHOOKS, "Not an http(s) URL with a host."
    WEBHOOK_URL_NOT_ALLOWED = (
        "WEBHOOK_URL_NOT_ALLOWED",
        WEBHOOKS,
        "The URL points at a loopback, private or link-local address.",
    )


def known(code: str) -> ErrorCode:
    """The member for a code; an unknown one (a bug: the test suite refuses it) is logged and
    answered as INTERNAL_ERROR, never a failed response."""
    try:
        return ErrorCode(code)
    except ValueError:
        log.error("error code %r is not in the catalog (services/error_codes.py)", code)
        return ErrorCode.INTERNAL_ERROR
