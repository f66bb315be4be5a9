"""The executable schema: every area's Query and Mutation merged into one root each."""

from graphql import GraphQLError
from strawberry import Schema
from strawberry.extensions import MaxTokensLimiter, ParserCache
from strawberry.extensions.max_aliases import create_validator as max_aliases_rule
from strawberry.extensions.query_depth_limiter import create_validator as max_depth_rule
from strawberry.tools import merge_types
from strawberry.types import ExecutionContext

from commcredits.resolvers.access import AccessMutation, AccessQuery
from commcredits.resolvers.catalog import CatalogMutation, CatalogQuery
from commcredits.resolvers.credits import CreditsMutation, CreditsQuery
from commcredits.resolvers.licenses import LicenseMutation
from commcredits.resolvers.node import NodeQuery
from commcredits.resolvers.rating import RatingMutation, RatingQuery
from commcredits.resolvers.tenants import TenantMutation, TenantQuery
from commcredits.resolvers.user_import import UserImportMutation
from commcredits.resolvers.users import UserMutation, UserQuery
from commcredits.schema.access import ApiKey, AuditEntry
from commcredits.schema.catalog import Sku, SubscribedSku
from commcredits.schema.cost import MAX_COST
from commcredits.schema.credits import CreditLot, CreditTransaction, Invoice, Notification
from commcredits.schema.directory import User
from commcredits.schema.tenants import Tenant
from commcredits.schema.validation import CACHE_SIZE, CachedValidation
from commcredits.services.errors import DomainError

MAX_DEPTH = 10
MAX_ALIASES = 30
MAX_TOKENS = 5000

Query = merge_types(
    "Query",
    (NodeQuery, TenantQuery, CatalogQuery, UserQuery, AccessQuery, RatingQuery, CreditsQuery),
)
Mutation = merge_types(
    "Mutation",
    (
        TenantMutation,
        CatalogMutation,
        UserMutation,
        UserImportMutation,
        LicenseMutation,
        AccessMutation,
        RatingMutation,
        CreditsMutation,
    ),
)


def _is_introspection(field) -> bool:  # noqa: ANN001 - strawberry's IgnoreContext
    return field.field_name.startswith("__")


# Built once (Strawberry's QueryDepthLimiter and MaxAliasesLimiter build theirs per request).
_DOCUMENT_RULES = (
    max_depth_rule(MAX_DEPTH, _is_introspection),
    max_aliases_rule(MAX_ALIASES),
)


class CommcreditsSchema(Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        # Domain refusals and bad queries are the client's business; only the unexpected is
        # logged here (with its traceback) by the execution layer, which knows the request id.
        return None


schema = CommcreditsSchema(
    query=Query,
    mutation=Mutation,
    types=[
        User,
        Sku,
        SubscribedSku,
        Tenant,
        ApiKey,
        AuditEntry,
        CreditLot,
        CreditTransaction,
        Invoice,
        Notification,
    ],
    extensions=[
        lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
        # Parsing and validating a text happen once (both cached per text), the depth and
        # alias limits among the rules; the cost limit, which depends on the variables, runs
        # on every request.
        lambda: ParserCache(maxsize=CACHE_SIZE),
        lambda: CachedValidation(rules=_DOCUMENT_RULES, max_cost=MAX_COST),
    ],
)

__all__ = ["DomainError", "schema"]
