"""users, user, createUser, updateUser, deleteUser."""

from typing import Annotated

import strawberry
from strawberry.types import Info

from commcredits.models import User as UserRow
from commcredits.resolvers.common import ctx, paginate, user_ref
from commcredits.resolvers.permissions import permission
from commcredits.schema.common import Connection, to_global_id
from commcredits.schema.directory import (
    CreateUserInput,
    DeleteUserPayload,
    UpdateUserInput,
    User,
    UserFilter,
    UserPayload,
)
from commcredits.schema.input_limits import USER_PRINCIPAL_NAME, USER_REF, limited_arg
from commcredits.services import users
from commcredits.services.access import Permission
from commcredits.services.errors import DomainError


def _fields(data: CreateUserInput | UpdateUserInput) -> users.UserFields:
    # None means "leave as is"; a usage location of "" clears it (the service decides if it may).
    return users.UserFields(
        **{name: getattr(data, name) for name in users.UserFields.__dataclass_fields__}
    )


def _filter(flt: UserFilter | None) -> users.UserFilter | None:
    if flt is None:
        return None
    return users.UserFilter(
        **{
            name: (None if getattr(flt, name) is strawberry.UNSET else getattr(flt, name))
            for name in users.UserFilter.__dataclass_fields__
        }
    )


@strawberry.type
class UserQuery:
    @strawberry.field(description="The tenant's users, filtered, by cursor pages of ≤ 100.")
    @permission(Permission.READ, tenant=True)
    def users(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        filter: UserFilter | None = None,
    ) -> Connection[User]:
        tenant = ctx(info).tenant
        return paginate(
            users.users_query(tenant, _filter(filter)),
            key=UserRow.id,
            first=first,
            after=after,
            to_node=User.from_row,
        )

    @strawberry.field(description="One user by global id or user principal name; null if none.")
    @permission(Permission.READ, tenant=True)
    def user(
        self,
        info: Info,
        id: Annotated[strawberry.ID | None, limited_arg(USER_REF)] = None,
        user_principal_name: Annotated[str | None, limited_arg(USER_PRINCIPAL_NAME)] = None,
    ) -> User | None:
        tenant = ctx(info).tenant
        ref = id if id is not None else user_principal_name
        if not ref:
            raise DomainError("INVALID_ARGUMENT", "Give id or userPrincipalName.", "id")
        try:
            return User.from_row(users.get_user(tenant, user_ref(ref, field="id")))
        except DomainError as error:
            if error.code == "NOT_FOUND":
                return None
            raise


@strawberry.type
class UserMutation:
    @strawberry.mutation
    @permission(Permission.MANAGE_USERS, tenant=True)
    def create_user(self, info: Info, input: CreateUserInput) -> UserPayload:
        c = ctx(info)
        tenant = c.tenant
        row = users.create_user(tenant, c.principal, _fields(input), now=c.now)
        return UserPayload(user=User.from_row(row))

    @strawberry.mutation
    @permission(Permission.MANAGE_USERS, tenant=True)
    def update_user(self, info: Info, input: UpdateUserInput) -> UserPayload:
        c = ctx(info)
        tenant = c.tenant
        ref = user_ref(input.id, field="id")
        row = users.update_user(tenant, c.principal, ref, _fields(input), now=c.now)
        return UserPayload(user=User.from_row(row))

    @strawberry.mutation(description="Delete a user; the seats of its licenses are freed.")
    @permission(Permission.MANAGE_USERS, tenant=True)
    def delete_user(self, info: Info, id: strawberry.ID) -> DeleteUserPayload:
        c = ctx(info)
        tenant = c.tenant
        pk = users.delete_user(tenant, c.principal, user_ref(id, field="id"), now=c.now)
        return DeleteUserPayload(deleted_user_id=to_global_id("User", pk))
