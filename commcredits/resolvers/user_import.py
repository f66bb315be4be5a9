"""importUsers, setUsageLocation: batches of up to 1,000 rows with per-row results."""

from typing import Annotated

import strawberry
from strawberry.types import Info

from commcredits.resolvers.common import ctx
from commcredits.resolvers.permissions import permission
from commcredits.schema.input_limits import USER_PRINCIPAL_NAME, limited_arg
from commcredits.schema.user_import import (
    ImportUserColumnsInput,
    ImportUserInput,
    UserBatchPayload,
    UserColumnsPayload,
    UserRowResult,
    summarize,
)
from commcredits.schema.users import LOCATION_IN
from commcredits.services import user_columns, user_import
from commcredits.services.access import Permission
from commcredits.services.users import TEXT_LIMITS, UserFields


def _payload(outcomes: list[user_import.UserRowOutcome], what_if: bool) -> UserBatchPayload:
    results = [UserRowResult.from_outcome(o, what_if=what_if) for o in outcomes]
    return UserBatchPayload(what_if=what_if, results=results, summary=summarize(results))


@strawberry.type
class UserImportMutation:
    @strawberry.mutation(
        description="Create or update up to 1,000 users by user principal name, each row on its "
        "own; only the properties given are written. whatIf checks everything, writes nothing."
    )
    @permission(Permission.MANAGE_USERS, tenant=True)
    def import_users(
        self,
        info: Info,
        users: list[ImportUserInput],
        what_if: bool = False,
        create_missing: bool = True,
    ) -> UserBatchPayload:
        c = ctx(info)
        tenant = c.tenant
        rows = [
            UserFields(**{name: getattr(u, name) for name in UserFields.__dataclass_fields__})
            for u in users
        ]
        outcomes = user_import.upsert_users(
            tenant, c.principal, rows, now=c.now, create=create_missing, what_if=what_if
        )
        return _payload(outcomes, what_if)

    @strawberry.mutation(
        description="importUsers with the rows as columns (one list per property) and a compact "
        "answer: the bulk layer's shape for up to 1,000 users. The same rules, row by row."
    )
    @permission(Permission.MANAGE_USERS, tenant=True)
    def import_user_columns(
        self,
        info: Info,
        columns: ImportUserColumnsInput,
        what_if: bool = False,
        create_missing: bool = True,
    ) -> UserColumnsPayload:
        c = ctx(info)
        outcomes = user_import.upsert_columns(
            c.tenant,
            c.principal,
            columns.user_principal_name,
            {name: getattr(columns, name) for name in user_columns.PROPERTIES},
            now=c.now,
            create=create_missing,
            what_if=what_if,
        )
        return UserColumnsPayload.of(outcomes, what_if=what_if)

    @strawberry.mutation(
        description='The same usage location ("" removes it) for up to 1,000 existing users; '
        "each row's result answers the code stored."
    )
    @permission(Permission.MANAGE_USERS, tenant=True)
    def set_usage_location(
        self,
        info: Info,
        user_principal_names: Annotated[list[str], limited_arg(USER_PRINCIPAL_NAME)],
        usage_location: Annotated[
            str, limited_arg(TEXT_LIMITS["country"], description=LOCATION_IN)
        ],
        what_if: bool = False,
    ) -> UserBatchPayload:
        c = ctx(info)
        tenant = c.tenant
        outcomes = user_import.set_usage_locations(
            tenant,
            c.principal,
            user_principal_names,
            usage_location,
            now=c.now,
            what_if=what_if,
        )
        return _payload(outcomes, what_if)
