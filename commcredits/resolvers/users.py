"""users, user, createUser, updateUser, deleteUser."""

import functools
from typing import Annotated

import strawberry
from strawberry.types import Info

from commcredits.resolvers.common import ctx, user_ref
from commcredits.resolvers.permissions import permission
from commcredits.schema.common import CappedConnection, to_global_id
from commcredits.schema.directory import (
    CreateUserInput,
    DeleteUserPayload,
    UpdateUserInput,
    User,
    UserFilter,
    UserPayload,
)
from commcredits.schema.input_limits import USER_PRINCIPAL_NAME, USER_REF, limited_arg
from commcredits.schema.pages import after_key, edges_of, page_info, page_size
from commcredits.services import user_list, users
from commcredits.services.access import Permission
from commcredits.services.errors import DomainError


def _fields(data: CreateUserInput | UpdateUserInput) -> users.UserFields:
    # None means "leave as is"; a usage location of "" clears it (the service decides if it may).
    return users.UserFields(
        **{name: getattr(data, name) for name in users.UserFields.__dataclass_fields__}
    )


def _filter(flt: UserFilter | None) -> user_list.UserFilter | None:
    if flt is None:
        return None
    return user_list.UserFilter(
        **{
            name: (None if getattr(flt, name) is strawberry.UNSET else getattr(flt, name))
            for name in user_list.UserFilter.__dataclass_fields__
        }
    )


@strawberry.type
class UserQuery:
    @strawberry.field(
        description="The tenant's users, filtered, in the order they were created, by cursor "
        "pages of ≤ 100. search: case- and accent-insensitive, contained in the user principal "
        "name, display name, given name, surname or another mail address. totalCount is exact "
        "without a filter and with hasLicense alone; otherwise capped."
    )
    @permission(Permission.READ, tenant=True)
    def users(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        filter: UserFilter | None = None,
    ) -> CappedConnection[User]:
        tenant = ctx(info).tenant
        flt = _filter(filter)
        page = user_list.users_page(
            tenant, flt, after=after_key(after, "users"), size=page_size(first)
        )
        edges = edges_of(page.users, User.from_row, "users")
        return CappedConnection(
            edges=edges,
            page_info=page_info(edges, page.has_next, after),
            _count=functools.cache(lambda: user_list.count_users(tenant, flt)),
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
